"""`docexit bench vision`: the exit before OCR against always-OCR, side by side in one run.

Runs `docexit run` over the same labelled pages, each run in a fresh process with the same
options: once with the model's vision stage, once with `--force-ocr`, and each again on the first
file alone, in rotation for `--rounds` rounds. Prints, for both: pages, share of pages that
skipped OCR, accuracy against the labels, start-up (process start and model loads) apart from
steady-state end-to-end pages/s (the extra pages of the full run over its extra seconds), and the
ratio of the steady rates (median over the rounds, with its range); plus the vision stage's own
cost per page (decode to pixels and the CNN, timed here on the same pages) against a page's OCR
time.

Pages: a labelled folder (`--data`, as `docexit evaluate` reads it: labels.csv or class folders),
or one split of a corpus built by `docexit corpus` (`--corpus DIR --split test`: that split's
files). Every page of a file has the file's label.

Targets (printed as PASS/FAIL, never asserted): accuracy not lower than always-OCR (within 0.2 points on
synthetic data), at least 1.3x end-to-end pages/s on the synthetic test split, and the vision
stage under 10% of a page's OCR time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from docexit.benchmarks.timing import (
    Spread,
    Target,
    interleave,
    ratio_line,
    spread,
    steady_state,
    target_lines,
    targets_dict,
)

RUNS = ("always_first", "always", "vision_first", "vision")  # one round, in this order
SPEEDUP_DEFINITION = (
    "vision-stage steady-state pages/s / always-OCR steady-state pages/s, same pages, same round; "
    "steady state = (rows - first-file rows) / (wall - first-file wall), fresh processes each"
)
SPEEDUP_TARGET = 1.3
ACCURACY_TOLERANCE = 0.002  # 0.2 points
COST_TARGET = 0.10  # vision stage < 10% of a page's OCR time


def labelled_files(args: argparse.Namespace) -> list[tuple[Path, str]]:
    """(file, label) pairs of the benchmark's pages, sorted, at most `--limit` files."""
    if args.corpus is not None:
        from docexit.corpus.store import load_split

        table = load_split(args.corpus, args.split).select(["source", "label"]).to_pylist()
        files = sorted({(Path(r["source"]), r["label"]) for r in table})
    else:
        from docexit.corpus.sources import read_labelled_folder

        files = [(f.path, f.label) for f in read_labelled_folder(args.data)]
    return files[: args.limit] if args.limit else files


def link_inputs(files: list[tuple[Path, str]], folder: Path) -> dict[str, str]:
    """Hard-link (or copy) the files into `folder` under unique names; name -> label."""
    folder.mkdir(parents=True, exist_ok=True)
    labels = {}
    for index, (path, label) in enumerate(files):
        name = f"{index:05d}_{path.name}"
        try:
            os.link(path, folder / name)
        except OSError:
            (folder / name).write_bytes(path.read_bytes())
        labels[name] = label
    return labels


def run_job(inputs: Path, output: Path, model: str, extra: list[str]) -> dict[str, Any]:
    """One `docexit run` in a fresh process; its rows and wall-clock seconds."""
    from docexit.transforms.sinks import read_parquet

    argv = [sys.executable, "-m", "docexit.pipeline.cli", "run", "--input", str(inputs / "*")]
    argv += ["--output", str(output / "pages"), *(["--model", model] if model else []), *extra]
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    rows = read_parquet(sorted(str(p) for p in output.glob("pages/rows/*.parquet"))).to_pylist()
    dead = read_parquet(sorted(str(p) for p in output.glob("pages/dead_letters/*.parquet")))
    return {"argv": argv[3:], "seconds": seconds, "rows": rows, "dead_letters": dead.num_rows}


def summarize(job: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """Accuracy, OCR share and speed of one job's rows."""
    rows = job["rows"]
    n = len(rows)
    correct = [r["label"] == labels[Path(r["source"]).name] for r in rows]
    skipped = [not r["ocr_ran"] for r in rows]
    ocr_ms = [r["ocr_ms"] for r in rows if r["ocr_ran"]]
    return {
        "pages": n,
        "dead_letters": job["dead_letters"],
        "accuracy": sum(correct) / n if n else 0.0,
        "skip_ocr_share": sum(skipped) / n if n else 0.0,
        "accuracy_of_skipped": (
            sum(c for c, s in zip(correct, skipped, strict=True) if s) / sum(skipped)
            if any(skipped)
            else None
        ),
        "ocr_ms_per_ocr_page": statistics.fmean(ocr_ms) if ocr_ms else 0.0,
        "seconds": job["seconds"],
        "pages_per_s": n / job["seconds"] if job["seconds"] > 0 else 0.0,
        "skipped_by_label": dict(
            Counter(labels[Path(r["source"]).name] for r, s in zip(rows, skipped, strict=True) if s)
        ),
        "pages_by_label": dict(Counter(labels[Path(r["source"]).name] for r in rows)),
    }


def vision_stage_ms(inputs: Path, model: str, limit: int = 64) -> float:
    """The vision stage's cost per page: decoded page -> pixels -> CNN, batches of 32, timed on
    up to `limit` of the benchmark's pages after one warm-up batch."""
    import torch

    from docexit.models.device import respect_omp_thread_limit
    from docexit.models.visual_exit import load_visual_exit
    from docexit.pipeline.defaults import bundled_model_dir
    from docexit.transforms.decode import decode_pages
    from docexit.transforms.visual import VisualExitRunner

    respect_omp_thread_limit()
    exit_ = load_visual_exit(model or bundled_model_dir())
    if exit_ is None:
        raise SystemExit(f"the model {model or 'bundled'} has no visual exit")
    runner = VisualExitRunner(exit_, threshold=1.0)
    images = []
    for path in sorted(inputs.iterdir()):
        images += [p.image for p in decode_pages(path.read_bytes(), str(path))]
        if len(images) >= limit:
            break
    runner.decide(images[:32])  # warm-up
    with torch.inference_mode():
        start = time.perf_counter()
        for i in range(0, len(images), 32):
            runner.decide(images[i : i + 32])
    return 1000.0 * (time.perf_counter() - start) / max(1, len(images))


def steady(first: dict[str, Any], full: dict[str, Any]) -> tuple[float, float] | None:
    """(start-up s, steady pages/s) of one side from its first-file and full runs."""
    try:
        return steady_state(
            len(first["rows"]), first["seconds"], len(full["rows"]), full["seconds"]
        )
    except ValueError:  # one file only, or noise larger than the extra pages' time
        return None


def side_timing(runs: dict[str, list[dict[str, Any]]], side: str) -> dict[str, Any]:
    """Start-up and steady-state pages/s of one side over the rounds (None: not measurable)."""
    pairs = [steady(f, j) for f, j in zip(runs[f"{side}_first"], runs[side], strict=True)]
    measured = [p for p in pairs if p is not None]
    return {
        "startup_s": spread([p[0] for p in measured]).to_dict() if measured else None,
        "steady_pages_per_s_rounds": [None if p is None else p[1] for p in pairs],
        "wall_seconds_rounds": [j["seconds"] for j in runs[side]],
    }


def derive(
    always: dict[str, Any], vision: dict[str, Any], stage_ms: float
) -> tuple[dict[str, Any], list[Target]]:
    """The speed-up of the steady rates (per round), accuracy difference, stage cost; targets."""
    rates = zip(
        always["steady_pages_per_s_rounds"], vision["steady_pages_per_s_rounds"], strict=True
    )
    ratios = [v / a for a, v in rates if a and v]
    speedup = spread(ratios) if ratios else None
    cost = stage_ms / always["ocr_ms_per_ocr_page"] if always["ocr_ms_per_ocr_page"] else None
    difference = vision["accuracy"] - always["accuracy"]
    targets = [
        Target(
            f"end-to-end steady pages/s >= {SPEEDUP_TARGET}x always-OCR (synthetic test split)",
            None if speedup is None else speedup.median >= SPEEDUP_TARGET,
            "not measured" if speedup is None else speedup.text(),
        ),
        Target(
            f"accuracy >= always-OCR - {100 * ACCURACY_TOLERANCE:.1f} points",
            difference >= -ACCURACY_TOLERANCE,
            f"{100 * difference:+.2f} points",
        ),
        Target(
            f"vision stage < {COST_TARGET:.0%} of a page's OCR time",
            None if cost is None else cost < COST_TARGET,
            "not measured" if cost is None else f"{cost:.1%}",
        ),
    ]
    derived = {
        "speedup": None if speedup is None else speedup.to_dict(),
        "speedup_definition": SPEEDUP_DEFINITION,
        "accuracy_difference": difference,
        "vision_stage_ms_per_page": stage_ms,
        "vision_stage_cost_share_of_ocr": cost,
    }
    return derived, targets


def _steady_median(side: dict[str, Any]) -> float:
    rates = [r for r in side["steady_pages_per_s_rounds"] if r is not None]
    return spread(rates).median if rates else float("nan")


def _startup_median(side: dict[str, Any]) -> float:
    return side["startup_s"]["median"] if side["startup_s"] else float("nan")


def print_report(report: dict[str, Any]) -> None:
    a, v, d = report["always_ocr"], report["vision"], report["derived"]
    print(f"{'':40}{'always OCR':>14}{'vision stage':>14}")
    for name, key, spec in (
        ("pages", "pages", "d"),
        ("dead letters", "dead_letters", "d"),
        ("share skipping OCR", "skip_ocr_share", ".1%"),
        ("accuracy", "accuracy", ".4f"),
        ("end-to-end pages/s, start-up included", "pages_per_s", ".3f"),
        ("wall clock (s), round 1", "seconds", ".1f"),
        ("OCR ms per OCRed page", "ocr_ms_per_ocr_page", ".0f"),
    ):
        print(f"{name:40}{a[key]:>14{spec}}{v[key]:>14{spec}}")
    print(f"{'start-up (s), median':40}{_startup_median(a):>14.1f}{_startup_median(v):>14.1f}")
    print(
        f"{'end-to-end pages/s, steady, median':40}{_steady_median(a):>14.3f}"
        f"{_steady_median(v):>14.3f}"
    )
    speedup = None if d["speedup"] is None else Spread(**d["speedup"])
    print(ratio_line("speed-up end to end", speedup, d["speedup_definition"]))
    print(
        f"vision stage: {d['vision_stage_ms_per_page']:.1f} ms/page "
        "(decode to pixels and the CNN, timed here on the benchmark's pages)"
    )
    if v["accuracy_of_skipped"] is not None:
        print(f"accuracy of the pages that skipped OCR: {v['accuracy_of_skipped']:.4f}")
    print("\n".join(target_lines(report["targets"])))


def plot(report: dict[str, Any], path: Path) -> None:
    """Share of pages that skip OCR, per class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v = report["vision"]
    labels = sorted(v["pages_by_label"])
    shares = [v["skipped_by_label"].get(k, 0) / v["pages_by_label"][k] for k in labels]
    figure, axis = plt.subplots(figsize=(8, 4.5))
    axis.barh(labels, shares, color="#4c72b0")
    axis.set_xlim(0, 1)
    axis.set_xlabel("share of pages that skip OCR")
    d = report["derived"]
    axis.set_title(
        f"exit before OCR: {v['skip_ocr_share']:.0%} of pages skip OCR, "
        f"{d['speedup']['median'] if d['speedup'] else float('nan'):.2f}x steady pages/s, accuracy {100 * d['accuracy_difference']:+.1f} pts"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="a labelled folder of pages")
    source.add_argument("--corpus", type=Path, help="a corpus folder from `docexit corpus`")
    parser.add_argument("--split", default="test", help="the corpus split (with --corpus)")
    parser.add_argument("--model", default=None, help="checkpoint folder (default: bundled)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many files")
    parser.add_argument("--workers", type=int, default=1, help="DirectRunner worker processes")
    parser.add_argument(
        "--rounds", type=int, default=1, help="times each side runs, in rotation (default: 1)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write all figures here")
    parser.add_argument("--png", type=Path, default=None, help="per-class skip-share chart")


def run_sides(
    files: list[tuple[Path, str]], work: Path, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both sides, in rotation over the rounds, each also on its first file alone (start-up)."""
    extra = ["--no-summary"]
    if args.workers > 1:
        extra += ["--direct_running_mode=multi_processing", f"--direct_num_workers={args.workers}"]
    labels = link_inputs(files, work / "in")
    link_inputs(files[:1], work / "first")

    def one(name: str, r: int) -> dict[str, Any]:
        print(f"round {r + 1}/{args.rounds}: {name} ...", flush=True)
        inputs = work / ("first" if name.endswith("_first") else "in")
        force = ["--force-ocr"] if name.startswith("always") else []
        return run_job(inputs, work / f"{name}-{r}", args.model, [*extra, *force])

    runs = interleave(RUNS, args.rounds, one)
    always = {**summarize(runs["always"][0], labels), **side_timing(runs, "always")}
    vision = {**summarize(runs["vision"][0], labels), **side_timing(runs, "vision")}
    return always, vision


def main(args: argparse.Namespace) -> int:
    if args.rounds < 1:
        print("docexit bench vision: --rounds must be >= 1", file=sys.stderr)
        return 2
    files = labelled_files(args)
    print(f"{len(files)} files, {args.rounds} round(s) of {', '.join(RUNS)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="docexit-vision-bench-") as work:
        always, vision = run_sides(files, Path(work), args)
        stage_ms = vision_stage_ms(Path(work) / "in", args.model)
    derived, targets = derive(always, vision, stage_ms)
    report = {
        "files": len(files),
        "model": args.model or "bundled",
        "workers": args.workers,
        "rounds": args.rounds,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "always_ocr": always,
        "vision": vision,
        "derived": derived,
        "targets": targets_dict(targets),
    }
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
        print(f"figures: {args.json}")
    if args.png:
        plot(report, args.png)
        print(f"chart: {args.png}")
    return 0
