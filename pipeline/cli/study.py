"""`docexit study`: the paper's early-exit study, measured in wall-clock time.

Trains each design once (one factor at a time around a base design: exit head, exit input,
placement, training strategy, plus a few combinations), sweeps calibration on/off and every
exit policy's thresholds on its stored validation logits, evaluates on test pages with paired
bootstrap intervals, times the chosen points with the early-exit engine at batch 32 and 1
against full depth with length bucketing, and writes a Markdown report with PNGs and
`study.json` (the best design). Then it checks the shipped model (--shipped, the bundled one by
default) against the winner and records the verdict in its model card. Resumable: trained runs
and timings are cached under --out, and a rerun skips them.

`--quick`: a tiny model on a small corpus generated from the synthetic generator's own words (or
`--corpus DIR`), a few minutes on 2 cores. Without `--quick`: `--corpus DIR` from
`docexit corpus` and the warm-started backbone of the bundled model; a few hours.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

from docexit.benchmarks.study.grid import (
    POLICY_KINDS,
    QUICK,
    QUICK_CLASSES,
    QUICK_PAGES,
    StudySettings,
)
from docexit.models.policies import search_kinds

if TYPE_CHECKING:
    from docexit.benchmarks.study.run import StudyResult

DEFAULT_REPORT = Path("docs/study.md")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `docexit study`."""
    parser.add_argument("--quick", action="store_true", help="tiny model, small generated corpus")
    parser.add_argument(
        "--corpus", type=Path, default=None, help="folder written by `docexit corpus`"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="cache of runs and timings (default out/study[-quick])",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=DEFAULT_REPORT,
        help="Markdown report; PNGs, study.json and study_rows.csv go next to it",
    )
    _add_grid_arguments(parser)
    _add_timing_arguments(parser)
    _add_execution_arguments(parser)


def _add_grid_arguments(parser: argparse.ArgumentParser) -> None:
    """What is trained and swept (`StudySettings` overrides)."""
    parser.add_argument(
        "--seeds", type=int, default=None, help="training seeds per design (default 1)"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument(
        "--designs", default=None, help="comma-separated subset of designs (the base is always in)"
    )
    parser.add_argument(
        "--policies",
        default=None,
        help=f"comma-separated policy kinds among {','.join(search_kinds())} (default "
        f"{','.join(POLICY_KINDS)})",
    )
    parser.add_argument(
        "--init",
        default=None,
        help="minilm (default), random, a LayoutLMv3 folder, or a docexit model folder whose trained "
        "backbone every design shares (its exits are dropped)",
    )
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--max-train-pages", type=int, default=None)
    parser.add_argument(
        "--max-eval-pages", type=int, default=None, help="cap on validation and test pages"
    )


def _add_timing_arguments(parser: argparse.ArgumentParser) -> None:
    """How designs are timed and compared."""
    parser.add_argument(
        "--engine-step-sizes",
        "--batch-sizes",  # its older name
        dest="engine_step_sizes",
        default=None,
        help="engine step sizes to time: pages per layer step (default 32,1; the report's "
        "'batch'; --batch-sizes is the older name)",
    )
    parser.add_argument(
        "--time-points", type=int, default=None, help="validation Pareto points timed per design"
    )
    parser.add_argument("--repeats", type=int, default=None, help="timing repeats (median)")
    parser.add_argument(
        "--time-pages-bs1", type=int, default=None, help="pages timed at batch size 1 (0 = all)"
    )
    parser.add_argument(
        "--time-pages", type=int, default=None, help="pages timed at larger batches (0 = all)"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="accuracy loss vs full depth still kept (default 0.002: 0.2 points)",
    )
    parser.add_argument("--bootstrap", type=int, default=None, help="bootstrap resamples")


def _add_execution_arguments(parser: argparse.ArgumentParser) -> None:
    """The quick corpus, processes and threads, the shipped-model check, progress bars."""
    parser.add_argument(
        "--per-class",
        default=None,
        help="--quick corpus: generated pages per class as TRAIN,VAL,TEST",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="processes generating the --quick corpus"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: 1 with --quick)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="designs trained at once, one process each (default: 2 with --quick on 2+ cores, "
        "else 1; timing always runs alone)",
    )
    parser.add_argument(
        "--shipped",
        default=None,
        help="model folder checked against the winner: its design, and its own policy measured "
        "on the test pages (default: the bundled model for the full grid, none with --quick; "
        "`none` skips the check)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def settings_from_args(args: argparse.Namespace) -> StudySettings:
    """QUICK or the full settings, with the options given on the command line."""
    settings = QUICK if args.quick else StudySettings()
    overrides = {
        "seeds": args.seeds,
        "init": args.init,
        "epochs": args.epochs,
        "max_train_pages": args.max_train_pages,
        "max_eval_pages": args.max_eval_pages,
        "time_points": args.time_points,
        "repeats": args.repeats,
        "tolerance": args.tolerance,
        "bootstrap": args.bootstrap,
    }
    changes = {k: v for k, v in overrides.items() if v is not None}
    if args.engine_step_sizes:
        changes["batch_sizes"] = tuple(int(b) for b in args.engine_step_sizes.split(","))
    if args.policies:
        kinds = tuple(k.strip() for k in args.policies.split(",") if k.strip())
        unknown = set(kinds) - set(search_kinds())
        if unknown:
            raise ValueError(f"unknown policies {sorted(unknown)}; known: {search_kinds()}")
        changes["policies"] = kinds
    if args.time_pages_bs1 is not None:
        changes["time_pages_bs1"] = args.time_pages_bs1 or None
    if args.time_pages is not None:
        changes["time_pages"] = args.time_pages or None
    return replace(settings, **changes)


def command_line(args: argparse.Namespace) -> str:
    """The options given, as a `docexit study` command (for the report)."""
    parts = ["docexit", "study"]
    for key, value in vars(args).items():
        if value is None or value is False or (key == "report" and value == DEFAULT_REPORT):
            continue
        if key in {"device", "workers"} and value in {"auto", 2}:
            continue
        flag = "--" + key.replace("_", "-")
        parts += [flag] if value is True else [flag, shlex.quote(str(value))]
    return " ".join(parts)


def shipped_model(args: argparse.Namespace) -> Path | None:
    """The model to check against the winner (see --shipped); ValueError when it is not a
    model folder with an exit policy."""
    from docexit.pipeline.defaults import bundled_model_dir

    if args.shipped is None:
        return None if args.quick else bundled_model_dir()
    if args.shipped.lower() == "none":
        return None
    folder = Path(args.shipped)
    config = folder / "config.json"
    if not config.is_file():
        raise ValueError(f"--shipped {folder}: no config.json (not a docexit model folder)")
    if not json.loads(config.read_text()).get("policy"):
        raise ValueError(f"--shipped {folder}: the model stores no exit policy")
    return folder


def record_verdict(result: StudyResult, model_dir: Path, report: Path, command: str) -> Path:
    """The study's verdict on the shipped model, stored next to it (its card links the report)."""
    from docexit.benchmarks.study.grid import BASE
    from docexit.models.training.model_card import record_design_study

    best = result.best.design if result.best is not None else BASE.name
    link = os.path.relpath(Path(report).resolve(), Path(model_dir).resolve())
    entry = {"command": command, "report": link, "best": best, "shipped": asdict(result.shipped)}
    return record_design_study(model_dir, entry)


def log(line: str) -> None:
    print(line, flush=True)


def main(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from transformers.utils import logging as hf_logging

    from docexit.benchmarks.study.data import generated_corpus
    from docexit.benchmarks.study.grid import study_designs
    from docexit.benchmarks.study.run import run_study

    start = time.perf_counter()
    hf_logging.disable_progress_bar()  # checkpoint save/load bars, once per run
    threads = args.threads or (1 if args.quick else None)
    if threads:  # one thread: a tiny model's ops are too small to share, and the cores are shared
        torch.set_num_threads(threads)
    try:
        settings = settings_from_args(args)
        designs = study_designs(
            [n.strip() for n in args.designs.split(",")] if args.designs else None
        )
        shipped = shipped_model(args)
        per_class = _checked_corpus_options(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"docexit study: {err}", file=sys.stderr)
        return 2
    out = args.out or Path("out/study-quick" if args.quick else "out/study")
    corpus = args.corpus
    if corpus is None:
        log(
            f"generating the quick corpus ({per_class} pages of each of {', '.join(QUICK_CLASSES)}) "
            f"in {out / 'generated-corpus'}"
        )
        corpus = generated_corpus(
            out / "generated-corpus", per_class, seed=0, workers=args.workers, classes=QUICK_CLASSES
        )
        settings = replace(
            settings, extra={**settings.extra, "generated": True, "classes": list(QUICK_CLASSES)}
        )
    out.mkdir(parents=True, exist_ok=True)
    log(
        f"study: {len(designs)} designs x {settings.seeds} seed(s), policies {', '.join(settings.policies)}; cache {out}"
    )
    jobs = args.jobs or (min(2, os.cpu_count() or 1) if args.quick else 1)
    result = run_study(
        designs,
        settings,
        corpus,
        out,
        device=args.device,
        progress=not args.no_progress,
        log=log,
        jobs=jobs,
        shipped=shipped,
    )
    result.seconds = time.perf_counter() - start  # corpus generation included
    _write_outputs(args, result, shipped)
    _log_best(result, settings.primary_batch)
    log(f"study done in {time.perf_counter() - start:.0f} s")
    return 0


def _checked_corpus_options(args: argparse.Namespace) -> dict[str, int]:
    """ValueError unless --corpus holds a corpus or --quick is given; the --quick corpus's
    pages per class and split (`--per-class`)."""
    if args.corpus is None and not args.quick:
        raise ValueError("the full grid needs --corpus DIR (built by `docexit corpus`)")
    if args.corpus is not None and not (args.corpus / "train.parquet").is_file():
        raise ValueError(f"{args.corpus} has no train.parquet (build it with `docexit corpus`)")
    if not args.per_class:
        return dict(QUICK_PAGES)
    parts = [int(p) for p in args.per_class.split(",")]
    if len(parts) != 3 or min(parts) < 1:
        raise ValueError("--per-class needs TRAIN,VAL,TEST (each >= 1)")
    return dict(zip(("train", "validation", "test"), parts, strict=True))


def _write_outputs(args: argparse.Namespace, result: StudyResult, shipped: Path | None) -> None:
    """The report and its files; the verdict in the shipped model's card."""
    from docexit.benchmarks.study.outputs import write_outputs

    command = command_line(args)
    for name, path in write_outputs(result, args.report, command).items():
        log(f"wrote {name}: {path}")
    if result.shipped is not None:
        log(f"wrote model card: {record_verdict(result, shipped, args.report, command)}")


def _log_best(result: StudyResult, bs: int) -> None:
    """The study's verdict at batch size `bs`, as logged."""
    if result.best is None:
        log(
            f"best: no early-exit point keeps full-depth accuracy with a speed-up at batch {bs}; ship the base design at full depth"
        )
    else:
        b = result.best
        log(
            f"best: {b.design}, {b.label}: test accuracy {100 * b.accuracy:.1f}% vs base full depth "
            f"{100 * result.base.full_depth().accuracy:.1f}%, measured speed-up {b.measured_speedup(bs):.2f}x at batch {bs}, "
            f"simulated saving {100 * b.saving:.1f}%, mean exit layer {b.mean_exit_layer:.2f}"
        )
