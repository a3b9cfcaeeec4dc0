"""Wall-clock speed of `docexit study`'s chosen points with the real engine.

Each point runs through `EarlyExitEngine` in `shrink_refill` mode (exited pages leave the batch,
waiting pages refill it, length bucketing) and is compared with the same model at full depth
with length bucketing (`full_bucketed`), at each batch size, over the test pages
(`engine_measure.run_mode`). The paper's "simulated" saving counts every exit slot as an equal
share of a full forward; `ideal` uses each layer's measured cost (`engine_measure`'s
`measure_layer_costs`/`ideal_speedup`); `measured` is the ratio of pages/s.

Measurements are cached per run in `timing.json` (keyed by the timing settings), so a rerun
only times points it has not timed. Points that send every test page to the same exit as an
already timed point (e.g. calibrated and uncalibrated thresholds that happen to agree) run the
same work; they share that point's measurement (`same_exits_as`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from docexit.benchmarks.engine_measure import ideal_speedup, measure_layer_costs, run_mode
from docexit.benchmarks.engine_setup import Page
from docexit.benchmarks.study.stats import spread_indices
from docexit.benchmarks.study.sweep import FULL_DEPTH, PointRow
from docexit.benchmarks.study.train import Run
from docexit.models.policies import policy_from_dict
from docexit.models.policies.selection import never_exit_early
from docexit.models.training.dataset import PageDataset

TIMING_FILE = "timing.json"
MAX_COPIES = 64


def dataset_pages(dataset: PageDataset) -> list[Page]:
    """Every page of a split as engine input, in the split's order (the stored logits' order)."""
    return [dataset[i] for i in range(len(dataset))]


def _point_id(row: PointRow, seed_index: int) -> str:
    policy = json.dumps(row.policies[seed_index], sort_keys=True)
    digest = hashlib.sha256(policy.encode()).hexdigest()[:8]
    return f"{'cal' if row.calibrated else 'uncal'}:{row.kind}:{row.param:g}:{digest}"


def _exits_key(row: PointRow, seed_index: int) -> bytes:
    """Where every test page exits under the point: points with the same key do the same work
    in the engine (temperatures and thresholds only decide where pages leave)."""
    return np.asarray(row.exit_index[seed_index], dtype=np.int64).tobytes()


@dataclass(frozen=True)
class TimingPlan:
    """How points are timed: batch sizes, repeats (median), pages at batch 1 and at larger
    batches (None = all), and the least time of one full-depth run (shorter page sets are
    timed several copies over)."""

    batch_sizes: tuple[int, ...]
    repeats: int
    pages_bs1: int | None
    min_seconds: float
    pages_batched: int | None = None

    def indices(self, batch_size: int, available: int) -> list[int]:
        """The test pages timed at `batch_size`: all, or a cap spread evenly over the split
        (splits are stored class by class: the first N would hold a few classes only)."""
        cap = self.pages_bs1 if batch_size == 1 else self.pages_batched
        return spread_indices(available, available if cap is None else cap)

    def key(self, available: int, device: torch.device) -> str:
        spec = [asdict(self), available, str(device), torch.get_num_threads()]
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]


def _load_cache(path: Path, key: str) -> dict[str, Any]:
    if path.is_file():
        cache = json.loads(path.read_text())
        if cache.get("key") == key:
            return cache
    return {"key": key, "baseline": {}, "points": {}, "layer_costs_ms": None}


def pages_per_s(
    model, policy, pages: Sequence[Page], mode: str, batch_size: int
) -> tuple[float, dict[int, Any]]:
    """pages/s of `mode` over `pages`, and its predictions by page index."""
    result, predictions = run_mode(
        model, policy, pages, mode, batch_size, pool_size=len(pages), progress=False
    )
    return result.pages_per_s, predictions


def copies_for(model, pages: Sequence[Page], batch_size: int, min_seconds: float) -> int:
    """How many copies of `pages` one timed run needs to last `min_seconds` at full depth
    (runs of a tiny model take milliseconds; per-run overhead and scheduler noise swamp them)."""
    never = never_exit_early("max_prob", len(model.exits))
    speed, _ = pages_per_s(model, never, pages, "full_bucketed", batch_size)
    return max(1, min(MAX_COPIES, math.ceil(min_seconds * speed / len(pages))))


def _unique_by_exits(rows: Sequence[PointRow], seed_index: int) -> list[PointRow]:
    """The first of every group of rows that send each page to the same exit."""
    unique: list[PointRow] = []
    for row in rows:
        if _exits_key(row, seed_index) not in {_exits_key(u, seed_index) for u in unique}:
            unique.append(row)
    return unique


def _engine_agreement(
    predictions: dict[int, Any], labels: np.ndarray, row: PointRow, seed_index: int, index
) -> dict[str, float]:
    """The engine's accuracy on the timed pages, its agreement with the stored-logit replay's
    exits, and its mean exit layer."""
    n = len(labels)
    engine_labels = np.array([predictions[p].label_id for p in range(n)])
    engine_exits = np.array([predictions[p].exit_index for p in range(n)])
    return {
        "accuracy": float((engine_labels == labels).mean()),
        "exit_agreement": float(
            (engine_exits == np.asarray(row.exit_index[seed_index])[index]).mean()
        ),
        "mean_exit_layer": float(np.mean([predictions[p].exit_layer for p in range(n)])),
    }


def _share_with_twins(
    cache: dict[str, Any], todo: Sequence[PointRow], unique: Sequence[PointRow], seed_index: int
) -> None:
    """Points that leave every page where a timed one does get its figures (same work)."""
    keys = [_exits_key(u, seed_index) for u in unique]
    for row in todo:
        twin = unique[keys.index(_exits_key(row, seed_index))]
        if twin is not row:
            cache["points"][_point_id(row, seed_index)] = {
                **cache["points"][_point_id(twin, seed_index)],
                "same_exits_as": _point_id(twin, seed_index),
            }


def _time_repeats(model, run: Run, unique, seed_index: int, timed, bs: int, repeats: int, bar):
    """Pages/s of full depth and of every point, per repeat (full depth first in each), and
    the points' predictions."""
    never = never_exit_early("max_prob", len(model.exits))
    base: list[float] = []
    speeds: dict[int, list[float]] = {i: [] for i in range(len(unique))}
    predictions: dict[int, dict[int, Any]] = {}
    for _ in range(repeats):
        model.config.temperatures = list(run.temperatures)
        base.append(pages_per_s(model, never, timed, "full_bucketed", bs)[0])
        bar.update(1)
        for i, row in enumerate(unique):
            policy = policy_from_dict(row.policies[seed_index])
            model.config.temperatures = (
                list(run.temperatures) if row.calibrated else [1.0] * len(model.exits)
            )
            speed, predictions[i] = pages_per_s(model, policy, timed, "shrink_refill", bs)
            speeds[i].append(speed)
            bar.update(1)
    return base, speeds, predictions


def time_run(
    run: Run,
    seed_index: int,
    rows: Sequence[PointRow],
    pages: Sequence[Page],
    plan: TimingPlan,
    device: torch.device,
    progress: bool = True,
) -> dict[str, Any]:
    """Times `rows` (their policies for this seed) on `run`'s model; returns the run's timing
    cache: full depth's and every point's pages/s per repeat (each repeat times full depth
    first, then the points: ratios are paired within a repeat), the engine's accuracy and its
    agreement with the stored-logit replay, and per-layer costs."""
    path = run.directory / TIMING_FILE
    cache = _load_cache(path, plan.key(len(pages), device))
    todo = [
        r for r in rows if r.kind != FULL_DEPTH and _point_id(r, seed_index) not in cache["points"]
    ]
    unique = _unique_by_exits(todo, seed_index)
    missing_base = [b for b in plan.batch_sizes if str(b) not in cache["baseline"]]
    if not unique and not missing_base and cache["layer_costs_ms"]:
        return cache
    model = run.load_model(device)
    num_exits = len(model.exits)
    never = never_exit_early("max_prob", num_exits)
    labels = run.test.labels.numpy()
    bar = tqdm(
        total=len(plan.batch_sizes) * plan.repeats * (1 + len(unique)),
        desc=f"time {run.key}",
        leave=False,
        disable=not progress,
    )
    for bs in plan.batch_sizes:
        index = plan.indices(bs, len(pages))
        subset = [pages[i] for i in index]
        model.config.temperatures = list(run.temperatures)
        copies = copies_for(model, subset, bs, plan.min_seconds)
        timed = subset * copies  # the same pages, `copies` times over: one long run
        base, speeds, predictions = _time_repeats(
            model, run, unique, seed_index, timed, bs, plan.repeats, bar
        )
        cache["baseline"].setdefault(str(bs), {"pages_per_s": base, "copies": copies})
        for i, row in enumerate(unique):
            entry = cache["points"].setdefault(_point_id(row, seed_index), {})
            entry[str(bs)] = {
                "pages_per_s": speeds[i],
                "full_depth_pages_per_s": base,
                "copies": copies,
                **_engine_agreement(predictions[i], labels[index], row, seed_index, index),
            }
    _share_with_twins(cache, todo, unique, seed_index)
    if not cache["layer_costs_ms"]:
        model.config.temperatures = list(run.temperatures)
        cost_batch = max([b for b in plan.batch_sizes if b <= 32] or [min(plan.batch_sizes)])
        cache["layer_costs_ms"] = asdict(measure_layer_costs(model, never, pages, cost_batch))
    bar.close()
    path.write_text(json.dumps(cache, indent=2))
    return cache


def attach_timing(
    rows: Sequence[PointRow],
    runs: Sequence[Run],
    caches: Sequence[dict[str, Any]],
    batch_sizes: Sequence[int],
) -> None:
    """Seed-averaged measured speed-ups (median over repeats of the point's pages/s over full
    depth's in the same repeat, with the range), engine accuracy and agreement, and the ideal
    speed-up from measured layer costs."""
    from docexit.benchmarks.engine_measure import LayerCosts

    for row in rows:
        speedups: dict[str, list[float]] = {str(bs): [] for bs in batch_sizes}
        ideal, accuracy, agreement = [], {str(bs): [] for bs in batch_sizes}, []
        spread: dict[str, list[float]] = {str(bs): [] for bs in batch_sizes}
        shared = False
        for seed_index, (run, cache) in enumerate(zip(runs, caches, strict=True)):
            costs = LayerCosts(**cache["layer_costs_ms"])
            exits = Counter(row.exit_index[seed_index].tolist())
            # full depth runs the final head only (no other head): 1 by definition
            full = row.kind == FULL_DEPTH
            ideal.append(1.0 if full else ideal_speedup(_ExitLayers(run.exit_layers), costs, exits))
            for bs in map(str, batch_sizes):
                if row.kind == FULL_DEPTH:
                    speedups[bs].append(1.0)
                    continue
                entry = cache["points"].get(_point_id(row, seed_index), {}).get(bs)
                if entry is None:
                    break
                ratios = np.array(entry["pages_per_s"]) / np.array(entry["full_depth_pages_per_s"])
                speedups[bs].append(float(np.median(ratios)))
                shared |= "same_exits_as" in cache["points"][_point_id(row, seed_index)]
                spread[bs] += [float(ratios.min()), float(ratios.max())]
                accuracy[bs].append(entry["accuracy"])
                agreement.append(entry["exit_agreement"])
        row.timing["ideal_speedup"] = float(np.mean(ideal))
        if all(len(v) == len(runs) for v in speedups.values()):
            row.timing["speedup"] = {bs: float(np.mean(v)) for bs, v in speedups.items()}
            row.timing["measured_saving"] = {
                bs: 1.0 - 1.0 / s for bs, s in row.timing["speedup"].items()
            }
            if row.kind != FULL_DEPTH:
                row.timing["speedup_range"] = {bs: [min(v), max(v)] for bs, v in spread.items()}
                row.timing["engine_accuracy"] = {
                    bs: float(np.mean(v)) for bs, v in accuracy.items()
                }
                row.timing["exit_agreement"] = float(np.mean(agreement))
                row.timing["shared"] = shared  # reuses another point's measurement


class _ExitLayers:
    """What `ideal_speedup` reads from a model (its exit layers), from a stored run."""

    def __init__(self, exit_layers: Sequence[int]):
        self.exit_layers = list(exit_layers)
