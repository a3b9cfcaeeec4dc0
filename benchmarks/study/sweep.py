"""Policy and threshold sweeps of `docexit study` on stored logits (no model runs here).

For every trained run, with and without its validation-fitted temperatures, every candidate of
every policy kind (the grids of its class in `models/policies/`) is built on validation logits and evaluated on
validation and test logits. Runs of one design (seeds) are averaged per (calibration, kind,
parameter) into `PointRow`s; paired bootstrap intervals compare each row with its own full depth
and with the base design's full depth on the same test pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from docexit.benchmarks.study.stats import pareto_mask, spread_indices, within_noise
from docexit.benchmarks.study.train import Run
from docexit.models.calibration import apply_temperatures, confidence_ece
from docexit.models.policies import policy_from_dict, simulate
from docexit.models.policies.selection import (
    PolicySummary,
    evaluate_policy,
    never_exit_early,
    sweep,
)
from docexit.models.training.metrics import paired_bootstrap

FULL_DEPTH = "full_depth"  # the kind of the never-exit-early reference row
Key = tuple[bool, str, float]  # (calibrated, policy kind, grid parameter)


@dataclass(frozen=True)
class Outcome:
    """One policy on one run: validation and test figures, and per-page test results."""

    policy: dict[str, Any]
    val: PolicySummary  # evaluate_policy on validation logits
    test: PolicySummary  # evaluate_policy on test logits
    correct: np.ndarray  # (N,) bool, test page right under the policy
    full_correct: np.ndarray  # (N,) bool, test page right at full depth
    exit_index: np.ndarray  # (N,) exit each test page leaves at
    ece: float  # test ECE of the calibrated max softmax at the exit taken


def _outcome(policy_dict: dict[str, Any], run: Run, temperatures: Sequence[float]) -> Outcome:
    policy = policy_from_dict(policy_dict)
    figures = {}
    for split, stored in (("val", run.val), ("test", run.test)):
        calibrated = apply_temperatures(stored.logits, temperatures)  # (E, N, C)
        figures[split] = evaluate_policy(
            policy, calibrated, stored.labels, stored.gates, run.exit_layers, run.num_layers
        )
    calibrated = apply_temperatures(run.test.logits, temperatures)  # (E, N, C)
    result = simulate(policy, calibrated, run.test.gates)
    pages = torch.arange(calibrated.shape[1])
    confidence = calibrated[result.exit_index, pages].softmax(dim=-1).max(dim=-1).values  # (N,)
    correct = result.predictions == run.test.labels  # (N,)
    full_correct = calibrated[-1].argmax(dim=-1) == run.test.labels  # (N,)
    return Outcome(
        policy=policy.to_dict(),
        val=figures["val"],
        test=figures["test"],
        correct=correct.numpy(),
        full_correct=full_correct.numpy(),
        exit_index=result.exit_index.numpy(),
        ece=confidence_ece(confidence, correct),
    )


def sweep_run(run: Run, kinds: Sequence[str]) -> dict[Key, Outcome]:
    """Every candidate of every kind, calibrated and not, plus the full-depth reference."""
    num_exits = len(run.exit_layers)
    outcomes: dict[Key, Outcome] = {}
    for calibrated in (True, False):
        temperatures = run.temperatures if calibrated else [1.0] * num_exits
        val_logits = apply_temperatures(run.val.logits, temperatures)  # (E, N, C)
        for kind in kinds:
            rows = sweep(
                kind, val_logits, run.val.labels, run.val.gates, run.exit_layers, run.num_layers
            )
            for row in rows:
                outcomes[(calibrated, kind, float(row.param))] = _outcome(
                    row.policy, run, temperatures
                )
    never = never_exit_early("max_prob", num_exits).to_dict()
    outcomes[(True, FULL_DEPTH, 0.0)] = _outcome(never, run, run.temperatures)
    return outcomes


@dataclass
class PointRow:
    """One (design, calibration, policy kind, parameter), averaged over the design's seeds."""

    design: str
    calibrated: bool
    kind: str
    param: float
    policies: list[dict[str, Any]]  # one per seed
    val_accuracy: float
    val_full_accuracy: float
    val_saving: float
    accuracy: float  # test
    full_accuracy: float  # test, this design at full depth
    saving: float  # simulated (the paper's measure: every layer an equal share)
    mean_exit_layer: float
    ece: float
    exit_fractions: list[float]
    correct: np.ndarray = field(repr=False)  # (N,) per-page correctness, mean over seeds
    full_correct: np.ndarray = field(repr=False)  # (N,) the same at full depth
    exit_index: list[np.ndarray] = field(repr=False)  # per seed, (N,)
    intervals: dict[str, list[float]] = field(default_factory=dict)  # name -> [mean, low, high]
    timing: dict[str, Any] = field(default_factory=dict)  # filled by study_timing

    @property
    def key(self) -> Key:
        return (self.calibrated, self.kind, self.param)

    @property
    def label(self) -> str:
        """Readable point name, e.g. `max_prob 0.9 (cal)`."""
        if self.kind == FULL_DEPTH:
            return "full depth"
        return f"{self.kind} {self.param:g} ({'cal' if self.calibrated else 'uncal'})"

    def measured_speedup(self, batch_size: int) -> float | None:
        return self.timing.get("speedup", {}).get(str(batch_size))

    def to_dict(self) -> dict[str, Any]:
        skip = {"correct", "full_correct", "exit_index"}
        return {k: v for k, v in vars(self).items() if k not in skip}


def aggregate(design: str, per_seed: Sequence[dict[Key, Outcome]]) -> list[PointRow]:
    """Seeds averaged per key (keys present in every seed), sorted by key."""
    keys = sorted(
        set.intersection(*(set(o) for o in per_seed)), key=lambda k: (not k[0], k[1], k[2])
    )
    rows = []
    for key in keys:
        outs = [o[key] for o in per_seed]

        def mean(values: Sequence[float]) -> float:
            return float(np.mean(values))

        rows.append(
            PointRow(
                design=design,
                calibrated=key[0],
                kind=key[1],
                param=key[2],
                policies=[o.policy for o in outs],
                val_accuracy=mean([o.val.accuracy for o in outs]),
                val_full_accuracy=mean([o.val.full_accuracy for o in outs]),
                val_saving=mean([o.val.saving for o in outs]),
                accuracy=mean([o.test.accuracy for o in outs]),
                full_accuracy=mean([o.test.full_accuracy for o in outs]),
                saving=mean([o.test.saving for o in outs]),
                mean_exit_layer=mean([o.test.mean_exit_layer for o in outs]),
                ece=mean([o.ece for o in outs]),
                exit_fractions=np.mean([o.test.exit_fractions for o in outs], axis=0).tolist(),
                correct=np.mean([o.correct for o in outs], axis=0),
                full_correct=np.mean([o.full_correct for o in outs], axis=0),
                exit_index=[o.exit_index for o in outs],
            )
        )
    return rows


def attach_intervals(
    rows: Sequence[PointRow], base_full_correct: np.ndarray, n_boot: int, seed: int = 0
) -> None:
    """Paired bootstrap intervals on test pages: `vs_own_full` (row - its design at full depth)
    and `vs_base_full` (row - the base design at full depth)."""
    if not rows:
        return
    own = np.stack([r.correct - r.full_correct for r in rows])  # (R, N)
    base = np.stack([r.correct - base_full_correct for r in rows])  # (R, N)
    mean, low, high = paired_bootstrap(np.concatenate([own, base]), n_boot, seed)
    for i, row in enumerate(rows):
        j = len(rows) + i
        row.intervals["vs_own_full"] = [float(mean[i]), float(low[i]), float(high[i])]
        row.intervals["vs_base_full"] = [float(mean[j]), float(low[j]), float(high[j])]


def keeps_accuracy(row: PointRow, tolerance: float) -> bool:
    """Whether the point keeps full-depth accuracy, the product's promise: its test accuracy is
    at most `tolerance` below its own model at full depth (the point estimate: on a small test
    split "within noise" would admit losses of several points), and not significantly below the
    base design at full depth (designs differ by training noise too)."""
    own, _, _ = row.intervals["vs_own_full"]
    if own < -tolerance - 1e-12:
        return False
    base, _, base_high = row.intervals["vs_base_full"]
    return not (base < -tolerance - 1e-12 and base_high < 0.0)


def noise_note(interval: Sequence[float]) -> str:
    """`+1.2 [-0.5, +2.9] pts, within noise` style text of an accuracy difference."""
    mean, low, high = (100 * x for x in interval)
    verdict = "within noise" if within_noise(low, high) else "significant"
    return f"{mean:+.1f} [{low:+.1f}, {high:+.1f}] pts, {verdict}"


def select_on_validation(rows: Sequence[PointRow], kind: str, calibrated: bool) -> PointRow | None:
    """The candidate of `kind` with the highest validation saving whose validation accuracy is
    not below full depth (select_policy's rule with tolerance 0, on seed-averaged figures);
    None when only never-exit-early candidates qualify."""
    ok = [
        r
        for r in rows
        if r.kind == kind
        and r.calibrated == calibrated
        and r.val_accuracy >= r.val_full_accuracy - 1e-9
        and r.val_saving > 0
    ]
    return max(ok, key=lambda r: (r.val_saving, r.val_accuracy)) if ok else None


def points_to_time(
    rows: Sequence[PointRow], kinds: Sequence[str], front_points: int
) -> list[PointRow]:
    """One design's points worth timing: the validation-selected point of every (kind,
    calibration), and up to `front_points` points spread over the validation Pareto front
    (simulated saving vs accuracy, all kinds, calibrated)."""
    chosen: dict[Key, PointRow] = {}
    for calibrated in (True, False):
        for kind in kinds:
            row = select_on_validation(rows, kind, calibrated)
            if row is not None:
                chosen[row.key] = row
    candidates = [r for r in rows if r.calibrated and r.kind != FULL_DEPTH and r.val_saving > 0]
    mask = pareto_mask([r.val_saving for r in candidates], [r.val_accuracy for r in candidates])
    front = sorted(
        (r for r, m in zip(candidates, mask, strict=True) if m), key=lambda r: r.val_saving
    )
    for i in spread_indices(len(front), front_points):
        chosen.setdefault(front[i].key, front[i])
    return sorted(chosen.values(), key=lambda r: (not r.calibrated, r.kind, r.param))


def choose_best(
    rows: Sequence[PointRow], tolerance: float, batch_size: int = 32
) -> PointRow | None:
    """The timed point that keeps accuracy (`keeps_accuracy`), is Pareto-optimal among all timed
    points (test accuracy vs measured speed-up at `batch_size`), and has the highest measured
    speed-up, if that beats full depth (> 1); else None."""
    timed = [r for r in rows if r.measured_speedup(batch_size) is not None]
    if not timed:
        return None
    mask = pareto_mask([r.measured_speedup(batch_size) for r in timed], [r.accuracy for r in timed])
    ok = [r for r, m in zip(timed, mask, strict=True) if m and keeps_accuracy(r, tolerance)]
    ok = [r for r in ok if r.measured_speedup(batch_size) > 1.0]
    return max(ok, key=lambda r: (r.measured_speedup(batch_size), r.accuracy)) if ok else None
