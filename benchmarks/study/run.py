"""`docexit study`, the steps: train every design (cached), sweep policies on stored logits,
compare on test pages with bootstrap intervals, time the chosen points with the engine, pick
the best design, and check the shipped model against it (`study_shipped`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from docexit.benchmarks.study.grid import BASE, Design, StudySettings, data_key
from docexit.benchmarks.study.shipped import ShippedCheck, check_shipped
from docexit.benchmarks.study.sweep import (
    FULL_DEPTH,
    PointRow,
    aggregate,
    attach_intervals,
    choose_best,
    points_to_time,
    sweep_run,
)
from docexit.benchmarks.study.timing import TimingPlan, attach_timing, dataset_pages, time_run
from docexit.benchmarks.study.train import (
    Run,
    StudyData,
    backbone_depth,
    load_data,
    load_run,
    quiet_workers,
    train_job,
    train_run,
)
from docexit.models.device import resolve_device
from docexit.models.training.metrics import calibration_report


@dataclass
class DesignResult:
    """One design: its runs (one per seed), its sweep rows and per-exit calibration."""

    design: Design
    exits: list[dict[str, Any]]
    runs: list[Run]
    rows: list[PointRow]
    alias_of: str | None  # an earlier design with the same exits and strategy at this depth
    calibration: list[dict[str, Any]]  # first seed, test split: per exit ECE before/after

    def full_depth(self) -> PointRow:
        return next(r for r in self.rows if r.kind == FULL_DEPTH)

    def timed(self) -> list[PointRow]:
        return [r for r in self.rows if "speedup" in r.timing]


@dataclass
class StudyResult:
    settings: StudySettings
    corpus: Path
    sizes: dict[str, int]
    num_layers: int
    designs: list[DesignResult]
    best: PointRow | None
    device: str
    threads: int
    seconds: float  # the study's wall time (the command sets it to its own)
    trained: int  # runs trained by this call (the others came from the cache)
    cached: int
    shipped: ShippedCheck | None = None  # the shipped model against the winner

    @property
    def rows(self) -> list[PointRow]:
        return [r for d in self.designs for r in d.rows]

    @property
    def base(self) -> DesignResult:
        return next(d for d in self.designs if d.design.name == BASE.name)


def _run_plan(designs: Sequence[Design], settings: StudySettings, corpus: Path):
    """(design, seed, training key) for every pair, and the first pair that owns each key."""
    depth, corpus_key = backbone_depth(settings), data_key(corpus)
    plan = [
        (d, seed, settings.training_key(d, depth, seed, corpus_key))
        for d in designs
        for seed in range(settings.seeds)
    ]
    owners: dict[str, tuple[Design, int]] = {}
    for design, seed, key in plan:
        owners.setdefault(key, (design, seed))
    return plan, owners


def train_designs(
    designs: Sequence[Design],
    settings: StudySettings,
    data: StudyData,
    corpus: Path,
    out_dir: Path,
    device: str,
    jobs: int,
    progress: bool,
    log: Callable[[str], None],
) -> tuple[dict[str, list[Run]], dict[str, str | None], dict[str, int]]:
    """Every (design, seed) run, trained unless stored (in `jobs` processes when > 1); designs
    with the same exits and strategy at this depth share one run. Returns runs per design,
    aliases (design -> the design whose run it shares) and counts of trained and cached runs."""
    plan, owners = _run_plan(designs, settings, corpus)
    stored = {key for key in owners if load_run(out_dir / "runs" / key) is not None}
    todo = [key for key in owners if key not in stored]
    counts = {"trained": len(todo), "cached": len(stored)}
    log(
        f"runs: {len(plan)} (design, seed) pairs, {len(owners)} distinct models, {len(stored)} stored"
    )

    done = [0]

    def report(key: str, how: str) -> None:
        done[0] += 1
        design, seed = owners[key]
        run = load_run(out_dir / "runs" / key)
        assert run is not None
        full_val = float((run.val.logits[-1].argmax(-1) == run.val.labels).float().mean())
        full_test = float((run.test.logits[-1].argmax(-1) == run.test.labels).float().mean())
        log(
            f"[{done[0]}/{len(owners)}] {design.name} seed {seed}: {how}; exits after layers "
            f"{run.exit_layers}; full depth "
            f"accuracy validation {full_val:.3f}, test {full_test:.3f}"
        )

    for key in stored:
        report(key, "cached")
    bar = tqdm(total=len(todo), desc="train designs", disable=not progress)
    if jobs > 1 and len(todo) > 1:
        for key in _train_in_processes(todo, owners, settings, corpus, out_dir, device, jobs):
            bar.update(1)
            report(key, f"trained in {load_run(out_dir / 'runs' / key).train_seconds:.0f} s")
    else:
        for key in todo:
            design, seed = owners[key]
            run = train_run(design, seed, key, settings, data, out_dir / "runs" / key, device)
            bar.update(1)
            report(key, f"trained in {run.train_seconds:.0f} s")
    bar.close()
    runs, aliases = _runs_per_design(designs, plan, owners, out_dir, log)
    return runs, aliases, counts


def _train_in_processes(
    todo: list[str],
    owners: dict[str, tuple[Design, int]],
    settings: StudySettings,
    corpus: Path,
    out_dir: Path,
    device: str,
    jobs: int,
) -> Iterator[str]:
    """Train the runs `todo` in `jobs` processes; yields each key as its run is stored."""
    threads = max(1, torch.get_num_threads() // jobs) if settings.init != "random" else 1
    with quiet_workers(), ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        futures = {
            pool.submit(
                train_job,
                (*owners[key], key, settings, corpus, out_dir / "runs" / key, device, threads),
            ): key
            for key in todo
        }
        for future in as_completed(futures):
            future.result()
            yield futures[future]


def _runs_per_design(designs, plan, owners, out_dir: Path, log: Callable[[str], None]):
    """Each design's stored runs (one per seed) and the design whose run it shares, if any."""
    runs: dict[str, list[Run]] = {d.name: [] for d in designs}
    aliases: dict[str, str | None] = {d.name: None for d in designs}
    for design, seed, key in plan:
        owner = owners[key][0].name
        if owner != design.name:
            aliases[design.name] = owner
            log(f"{design.name} seed {seed}: same model as {owner}")
        run = load_run(out_dir / "runs" / key)
        assert run is not None
        runs[design.name].append(run)
    return runs, aliases


def _swept(
    design: Design,
    runs: list[Run],
    alias_of: str | None,
    settings: StudySettings,
    depth: int,
    log: Callable[[str], None],
) -> DesignResult:
    """A design's runs swept over every (calibration, policy, threshold) point."""
    rows = aggregate(design.name, [sweep_run(run, settings.policies) for run in runs])
    first = runs[0]
    log(f"swept {design.name}: {len(rows)} (calibration, policy, threshold) points")
    return DesignResult(
        design=design,
        exits=design.exits(depth),
        runs=runs,
        rows=rows,
        alias_of=alias_of,
        calibration=calibration_report(first.test.logits, first.test.labels, first.temperatures),
    )


def _time_design(
    result: DesignResult,
    pages: list,
    plan: TimingPlan,
    settings: StudySettings,
    device: torch.device,
    progress: bool,
    log: Callable[[str], None],
) -> None:
    """Time a design's chosen points (and full depth) on every seed's run; attach the figures."""
    chosen = points_to_time(result.rows, settings.policies, settings.time_points)
    chosen.append(result.full_depth())
    caches = [
        time_run(run, seed, chosen, pages, plan, device, progress)
        for seed, run in enumerate(result.runs)
    ]
    attach_timing(chosen, result.runs, caches, settings.batch_sizes)
    speeds = ", ".join(
        f"{r.label}: {r.measured_speedup(settings.primary_batch):.2f}x"
        for r in chosen
        if r.kind != FULL_DEPTH
    )
    log(
        f"timed {result.design.name} at batch {settings.primary_batch}: {speeds or 'no early-exit point'}"
    )


def _shipped_line(check) -> str:
    """The shipped model's check, as logged."""
    return (
        f"design {', '.join(check.designs) or 'none of the study'}; "
        f"early exit {100 * check.accuracy_early_exit:.1f}% vs own full depth "
        f"{100 * check.accuracy_full:.1f}%, speed-up "
        + ", ".join(f"{s:.2f}x at batch {b}" for b, s in check.speedup.items())
    )


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)


def run_study(
    designs: Sequence[Design],
    settings: StudySettings,
    corpus: Path,
    out_dir: Path,
    device: str = "auto",
    progress: bool = True,
    log: Callable[[str], None] = print,
    jobs: int = 1,
    shipped: Path | None = None,
) -> StudyResult:
    """Everything the report shows (module docstring); runs and timings cached under `out_dir`."""
    start, torch_device = time.perf_counter(), resolve_device(device)
    data = load_data(corpus, settings)
    sizes = {"train": len(data.train), "validation": len(data.validation), "test": len(data.test)}
    log(f"data: {corpus} ({' / '.join(f'{n} {split}' for split, n in sizes.items())} pages)")
    depth = backbone_depth(settings)
    runs, aliases, counts = train_designs(
        designs, settings, data, corpus, out_dir, device, jobs, progress, log
    )
    results = [
        _swept(design, runs[design.name], aliases[design.name], settings, depth, log)
        for design in designs
    ]
    base_full = next(d for d in results if d.design.name == BASE.name).full_depth().correct
    for result in results:
        attach_intervals(result.rows, base_full, settings.bootstrap)
    pages = dataset_pages(data.test)
    plan = TimingPlan(
        settings.batch_sizes,
        settings.repeats,
        settings.time_pages_bs1,
        settings.min_seconds,
        settings.time_pages,
    )
    for result in tqdm(results, desc="time designs", disable=not progress):
        _time_design(result, pages, plan, settings, torch_device, progress, log)
    best = choose_best(
        [r for d in results for r in d.rows], settings.tolerance, settings.primary_batch
    )
    check = None
    if shipped is not None:
        check = check_shipped(
            shipped, corpus, settings, plan, designs, depth, out_dir, torch_device
        )
        log(f"shipped {shipped}: {_shipped_line(check)}")
    return StudyResult(
        settings=settings,
        corpus=corpus,
        sizes=sizes,
        num_layers=depth,
        designs=results,
        best=best,
        device=_device_name(torch_device),
        threads=torch.get_num_threads(),
        seconds=time.perf_counter() - start,
        shipped=check,
        **counts,
    )
