"""Pieces every `docexit bench` target shares, so that its figures can be trusted on a busy
machine: modes run in rotation (ABC ABC ...) over N rounds, each ratio is the median of the
per-round ratios with their range, start-up is told apart from steady-state pages/s, targets print
as PASS/FAIL, and every ratio prints with its definition."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def log(*parts: object) -> None:
    """A progress line, flushed at once (runs are long; output may go to a file)."""
    print(*parts, flush=True)


@dataclass(frozen=True)
class Spread:
    """The median of a few repeats, with their range."""

    median: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self, spec: str = ".2f", suffix: str = "x") -> str:
        """`2.31x (2.20-2.45 over 7 rounds)`; a single value prints alone."""
        value = f"{self.median:{spec}}{suffix}"
        if self.n < 2:
            return f"{value} (1 round)"
        return f"{value} ({self.low:{spec}}-{self.high:{spec}} over {self.n} rounds)"


def spread(values: Sequence[float]) -> Spread:
    """Median, min and max of `values` (at least one)."""
    if not values:
        raise ValueError("spread of no values")
    return Spread(statistics.median(values), min(values), max(values), len(values))


def interleave(
    modes: Sequence[str], rounds: int, run: Callable[[str, int], T], mirror: bool = False
) -> dict[str, list[T]]:
    """`run(mode, round)` for every mode in turn, `rounds` times (ABC ABC ...), so that a slow
    spell of a loaded machine falls on every mode alike; `mirror`: every other round backwards
    (ABC CBA ...), so that no mode always runs before another; mode -> its results in round
    order."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    results: dict[str, list[T]] = {mode: [] for mode in modes}
    for r in range(rounds):
        for mode in reversed(modes) if mirror and r % 2 else modes:
            results[mode].append(run(mode, r))
    return results


def round_ratios(numerator: Sequence[float], denominator: Sequence[float]) -> Spread | None:
    """`numerator[i] / denominator[i]` for each round `i` (rates measured in the same round),
    as a median with its range; None when a denominator is not positive."""
    if len(numerator) != len(denominator):
        raise ValueError(f"{len(numerator)} numerators for {len(denominator)} denominators")
    if not numerator or any(d <= 0 for d in denominator):
        return None
    return spread([n / d for n, d in zip(numerator, denominator, strict=True)])


def steady_state(
    small_pages: int, small_s: float, large_pages: int, large_s: float
) -> tuple[float, float]:
    """(start-up seconds, steady-state pages/s) from two runs of one job on `small_pages` and
    `large_pages` pages: the extra pages over the extra seconds is the steady rate, and what
    the small run took beyond its pages at that rate is start-up (model loads, workers)."""
    if large_pages <= small_pages:
        raise ValueError(f"the large run needs more pages ({large_pages} <= {small_pages})")
    extra_s = large_s - small_s
    if extra_s <= 0:
        raise ValueError(f"the large run was not slower ({large_s:.2f} <= {small_s:.2f} s)")
    rate = (large_pages - small_pages) / extra_s
    return max(0.0, small_s - small_pages / rate), rate


@dataclass(frozen=True)
class Target:
    """One target a benchmark sets itself: met (True), missed (False) or not measured (None),
    with the figure it was judged on."""

    name: str
    ok: bool | None
    figure: str = ""

    def line(self) -> str:
        mark = "n/a" if self.ok is None else "PASS" if self.ok else "FAIL"
        return f"  [{mark}] {self.name}" + (f": {self.figure}" if self.figure else "")


def targets_dict(targets: Sequence[Target]) -> dict[str, dict[str, Any]]:
    """name -> {"ok", "figure"}, for the JSON report (`target_lines` prints it back)."""
    return {t.name: {"ok": t.ok, "figure": t.figure} for t in targets}


def target_lines(targets: dict[str, dict[str, Any]]) -> list[str]:
    """The PASS/FAIL/n/a lines of a report's targets."""
    return [Target(name, **fields).line() for name, fields in targets.items()]


def ratio_line(name: str, value: Spread | None, definition: str, spec: str = ".2f") -> str:
    """`name: value  [= definition]`, so that no ratio prints without what it divides."""
    shown = "n/a" if value is None else value.text(spec)
    return f"{name}: {shown}\n    = {definition}"
