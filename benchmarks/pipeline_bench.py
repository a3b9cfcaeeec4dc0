"""`docexit bench pipeline`: the whole pipeline's pages/s per stage and end to end, against the
physical references on the same pages with the same number of processes, in one run:

  cli       the Tesseract command line, one `tesseract PAGE - tsv` process per page
  engine    a bare loop over a loaded tesserocr `PyTessBaseAPI` (OCR only): the reference for
            the pipeline's OCR stage and, end to end, the bare tesserocr loop
  floor     "OCR + inference": the bare engine's seconds on the pages the pipeline OCRed plus
            the pipeline's own inference seconds, the least work a pipeline has to do
  pipeline  `docexit run` (Beam DirectRunner; in-process for --workers 1, else
            multi_processing with --direct_num_workers N), per-page figures from its Parquet,
            and again on its first page alone to tell start-up from steady-state pages/s

The runs go in rotation (cli, engine, pipeline on 1 page, pipeline; every other round backwards,
so that the bare loop does not always run before the pipeline) for `--rounds` rounds; each
ratio is taken within a round over the same pages on both sides (the OCR stage: the pages the
pipeline OCRed, since pages that leave at the vision stage have none; `--pipeline-arg=--force-ocr`
OCRs every page), then reported as the median over the rounds with its range. Stage throughput is
pages / (summed per-page engine seconds / processes): for the pipeline, what its OCR DoFn measured
around each Tesseract call and reported as Beam distributions (wall clock and the calling thread's
CPU time, `docexit.transforms.dofns.OCR_WALL_US` / `OCR_CPU_US`, read from the PipelineResult);
the same calls for the bare engine; the whole subprocess for the command line. The OCR-stage
targets are judged in CPU time: on a shared machine the wall clock of a call also counts the time
other jobs held the core, CPU time does not. Pages: see `docexit.benchmarks.pipeline_pages`.
After the rounds, two A/Bs of one call in one thread on the pages the pipeline OCRed: the bare
loop's call against the pipeline engine's (`tesseract_refs.paired_calls`), and the pipeline
engine's call right after another OCR call against right after the pipeline's work on the
previous page (`ocr_context.after_work_calls`): whether that work slows Tesseract.

Targets (printed as PASS/FAIL, never asserted): pipeline OCR stage at most 1.0x and at least 90%
of the bare engine on the same pages in CPU time (so about 2x the command line); inference < 1/3 of OCR time
per page on CPU; end to end at least 90% of "OCR + inference"; with `--memory-check`, peak RSS of
the whole process tree flat from N to 10N pages (`docexit.benchmarks.pipeline_memory`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docexit.benchmarks.ocr_context import after_work_calls, pipeline_work
from docexit.benchmarks.pipeline_job import run_pipeline
from docexit.benchmarks.pipeline_memory import DEFAULT_MEMORY_PAGES, memory_check
from docexit.benchmarks.pipeline_pages import PageSet, first_pages, prepare_pages
from docexit.benchmarks.pipeline_ratios import (
    AFTER_WORK,
    BUSY_MACHINE,
    BUSY_WARNING,
    DEFINITIONS,
    PAIRED,
    STEADY_STATE,
    check_targets,
    counts_add_up,
    paired_figures,
    round_figures,
    summarize_rounds,
)
from docexit.benchmarks.tesseract_refs import paired_calls, run_cli, run_engine
from docexit.benchmarks.timing import (
    Spread,
    interleave,
    log,
    ratio_line,
    target_lines,
    targets_dict,
)
from docexit.transforms.inference import ENGINE_BATCH_PAGES

DEFAULT_PAGES = 64
STARTUP_PAGES = 1  # pages of the pipeline run that tells start-up from steady state
RUNS = ("cli", "engine", "pipeline_first", "pipeline")


# ---- the benchmark ------------------------------------------------------------------------------


def worker_torch_threads(pipeline_args: Sequence[str]) -> int | None:
    """Torch threads of each pipeline worker: `--torch-threads` among `pipeline_args`, else the
    pipeline's default for its device (None: torch's own)."""
    from docexit.models.device import resolve_device, worker_threads
    from docexit.pipeline.options import DocexitOptions

    options = DocexitOptions(list(pipeline_args)).view_as(DocexitOptions)
    return worker_threads(options.torch_threads, str(resolve_device(options.device)))


def describe(
    page_set: PageSet, model_dir: str, workers: int, pipeline_args: Sequence[str] = ()
) -> dict[str, Any]:
    """Model, pages and software the run used."""
    from docexit.transforms.inference import model_id, read_model_config
    from docexit.transforms.ocr import OcrConfig, check_ocr_available, tesseract_version

    config = read_model_config(model_dir)
    pages = page_set.pages
    return {
        "model": {
            "dir": model_dir,
            "id": model_id(model_dir),
            "num_layers": int((config.get("backbone") or {}).get("num_hidden_layers", 0)),
            "exit_layers": [int(e["layer"]) for e in config.get("exits") or []],
        },
        "pages": {
            "count": len(pages),
            "origin": page_set.origin,
            "files": len({p.source for p in pages}),
            "dpi": sorted({p.dpi for p in pages}),
        },
        "workers": workers,
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "torch_threads": worker_torch_threads(pipeline_args),  # per pipeline worker
        "tesseract": {
            "pipeline_backend": check_ocr_available(OcrConfig()),
            "tesserocr": tesseract_version("tesserocr"),
            "cli": tesseract_version("pytesseract"),
        },
    }


def run_rounds(
    page_set: PageSet,
    model_dir: str,
    work: Path,
    workers: int,
    rounds: int,
    pipeline_args: Sequence[str],
    progress: bool,
) -> list[dict[str, Any]]:
    """The runs of RUNS in rotation, `rounds` times: each round's runs and figures."""
    pages = page_set.pages
    first = first_pages(page_set, STARTUP_PAGES, work / "first") if len(pages) > 1 else None

    def one(name: str, r: int) -> dict[str, Any] | None:
        log(f"[round {r + 1}/{rounds}] {name}")
        if name == "cli":
            return run_cli(pages, workers, progress).to_dict()
        if name == "engine":
            return run_engine(pages, workers, progress).to_dict()
        source = page_set if name == "pipeline" else first
        if source is None:
            return None
        out = work / f"{name}-{r}"
        return run_pipeline(source, model_dir, out, workers, pipeline_args, progress)

    runs = interleave(RUNS, rounds, one, mirror=True)  # the bare loop not always first
    out = []
    for r in range(rounds):
        this = {name: runs[name][r] for name in RUNS}
        figures = round_figures(
            this["cli"], this["engine"], this["pipeline"], this["pipeline_first"], workers
        )
        out.append({**this, "figures": figures, "counts_add_up": counts_add_up(this, len(pages))})
    return out


def run_benchmark(
    page_set: PageSet,
    model_dir: str,
    work: Path,
    workers: int = 1,
    memory_pages: int | None = None,
    pipeline_args: Sequence[str] = (),
    progress: bool = True,
    rounds: int = 1,
) -> dict[str, Any]:
    """The rounds over `page_set` (and the memory check when `memory_pages`): the report."""
    report = describe(page_set, model_dir, workers, pipeline_args)
    report["rounds"] = run_rounds(
        page_set, model_dir, work, workers, rounds, pipeline_args, progress
    )
    last = report["rounds"][-1]["pipeline"]["per_page"]
    ocred = [p for p in page_set.pages if last.get(Path(p.path).name, {}).get("ocr_ran")]
    log(f"[paired] the bare loop's and the pipeline engine's calls on {len(ocred)} pages")
    report["paired"] = paired_figures(paired_calls(ocred))
    log(
        f"[after work] the pipeline engine's calls after OCR and after its work, {len(ocred)} pages"
    )
    report["after_work"] = paired_figures(after_work_calls(ocred, pipeline_work(model_dir)))
    if memory_pages:
        log(f"[memory] {memory_pages} vs {10 * memory_pages} pages")
        report["memory"] = memory_check(
            page_set, model_dir, work, memory_pages, workers, pipeline_args, progress
        )
    figures = summarize_rounds([r["figures"] for r in report["rounds"]])
    report["figures"] = {k: None if v is None else v.to_dict() for k, v in figures.items()}
    report["ratio_definitions"] = {**DEFINITIONS, "steady_state": STEADY_STATE}
    report["counts_add_up"] = {
        name: all(r["counts_add_up"][name] for r in report["rounds"])
        for name in report["rounds"][0]["counts_add_up"]
    }
    report["targets"] = targets_dict(check_targets(figures, report.get("memory")))
    return report


def print_ratios(report: dict[str, Any], f: dict[str, Spread | None]) -> None:
    """Every ratio of DEFINITIONS (medians over the rounds, the paired A/Bs) with its definition."""
    for key, definition in DEFINITIONS.items():
        if key not in (PAIRED, AFTER_WORK):
            print(ratio_line(key, f.get(key), definition))
            continue
        paired, shown = report.get("paired" if key == PAIRED else "after_work"), "n/a"
        if paired:
            shown = f"{paired['median']:.3f}x ({paired['pooled']:.3f}x pooled, "
            shown += f"{paired['pages']} pages)"
        print(f"{key}: {shown}\n    = {definition}")


def print_report(report: dict[str, Any]) -> None:
    """The table (medians over the rounds), the ratios with their definitions, the targets."""
    f = {k: None if v is None else Spread(**v) for k, v in report["figures"].items()}
    pages, n = report["pages"], report["pages"]["count"]
    print(
        f"\n{n} pages ({pages['origin']}), model {report['model']['id']}, "
        f"{report['workers']} worker(s), torch threads {report['torch_threads']}, "
        f"{len(report['rounds'])} round(s), load average {report['load_average']}"
    )
    print(f"{'run':<47}{'pages':>7}{'pages/s':>10}")

    def row(name: str, count: Any, key: str) -> None:
        value = f.get(key)
        print(f"{name:<47}{count:>7}{'-' if value is None else f'{value.median:.2f}':>10}")

    ocred = "-" if f["ocr_pages"] is None else int(f["ocr_pages"].median)
    row("tesseract CLI", n, "cli_pps")
    row("bare tesserocr loop (OCR only)", n, "bare_loop_pps")
    row("bare engine on the pages the pipeline OCRed", ocred, "engine_same_pages_pps")
    row("pipeline OCR stage (DoFn metrics, those pages)", ocred, "pipeline_ocr_pps")
    row('"OCR + inference" floor', n, "floor_pps")
    row("pipeline end to end, steady state", n, "pipeline_steady_pps")
    row("pipeline end to end, start-up included", n, "pipeline_wall_pps")
    startup, inference, other = (
        f["pipeline_startup_s"],
        f["inference_ms_per_page"],
        f.get("other_ms_per_page"),
    )
    print(
        f"pipeline start-up (in no pages/s above but the last): "
        f"{'-' if startup is None else startup.text('.1f', ' s')}; inference "
        f"{'-' if inference is None else f'{inference.median:.1f}'} ms/page; outside OCR and "
        f"inference {'-' if other is None else f'{other.median:.1f}'} ms/page (decode, vision "
        f"stage, featurize, write, runner)\n    {STEADY_STATE}"
    )
    batches, batch_pages = f.get("engine_batches"), f.get("engine_batch_pages")
    if batches is not None and batch_pages is not None:
        print(
            f"engine batches (RunInference -> early-exit engine): {batches.median:.0f} of "
            f"{batch_pages.median:.1f} pages on average (Beam distribution {ENGINE_BATCH_PAGES})"
        )
    print_ratios(report, f)
    for key, who in (("engine_cpu_share", "bare engine"), ("pipeline_ocr_cpu_share", "pipeline")):
        share = f.get(key)
        if share is not None and share.median < BUSY_MACHINE:
            print(f"  [WARN] {who}: " + BUSY_WARNING.format(share=share.median))
    for name, ok in report["counts_add_up"].items():
        if not ok:
            print(f"  [WARN] {name}: page counts do not add up")
    memory = report.get("memory")
    if memory:
        runs = ", ".join(
            f"{m['pages']} pages {m['peak_rss_mb']:.0f} MB ({m['wall_s']:.0f} s)"
            for m in memory["runs"]
        )
        print(f"peak RSS of the process tree: {runs}; growth {memory['growth']:.2f}x")
    print("\n".join(target_lines(report["targets"])))


# ---- CLI ----------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pages",
        type=int,
        default=DEFAULT_PAGES,
        help="pages to run: generated (synthetic, seed 0), or the first N of --input "
        "(0 = all of --input) (default: %(default)s)",
    )
    parser.add_argument(
        "--input",
        default=None,
        metavar="PATTERN",
        help="real pages instead, e.g. '/work/shared/data/rvl-cdip-sample/images/*'",
    )
    parser.add_argument(
        "--model", type=Path, default=None, help="checkpoint folder (default: the bundled model)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes for the references and --direct_num_workers for the pipeline "
        "(1: in-process DirectRunner) (default: %(default)s)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="times each run goes, in rotation with the others (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="synthetic page seed")
    parser.add_argument("--json", type=Path, default=None, help="write all figures here")
    parser.add_argument(
        "--memory-check",
        action="store_true",
        help="also run the pipeline on N and 10N pages in fresh subprocesses and report the peak "
        "RSS of each process tree",
    )
    parser.add_argument(
        "--memory-pages",
        type=int,
        default=DEFAULT_MEMORY_PAGES,
        help="N for --memory-check (default: %(default)s, i.e. 100 vs 1000 pages)",
    )
    parser.add_argument(
        "--pipeline-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra `docexit run` argument, repeatable (e.g. --pipeline-arg=--batch-size=32)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="keep pages and outputs here (default: a temporary folder, removed)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress lines")


def main(args: argparse.Namespace) -> int:
    from docexit.pipeline.defaults import MissingModelError, bundled_model_dir

    for name, value in (
        ("HF_HUB_OFFLINE", "1"),
        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
        ("TOKENIZERS_PARALLELISM", "false"),
    ):
        os.environ.setdefault(name, value)
    if args.workers < 1 or args.rounds < 1:
        print("docexit bench pipeline: --workers and --rounds must be >= 1", file=sys.stderr)
        return 2
    try:
        model_dir = str(args.model) if args.model else str(bundled_model_dir())
    except MissingModelError as err:
        print(f"docexit bench pipeline: {err}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    if not args.no_progress:
        logging.getLogger("docexit.transforms.dofns").setLevel(logging.INFO)  # OCR progress
    keep = args.work_dir is not None
    work = (args.work_dir or Path(tempfile.mkdtemp(prefix="docexit-bench-pipeline-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        page_set = prepare_pages(
            work / "data", args.pages, args.input, seed=args.seed, workers=args.workers
        )
        if not page_set.pages:
            print("docexit bench pipeline: no pages", file=sys.stderr)
            return 2
        log(
            f"pages: {len(page_set.pages)} from {page_set.origin} "
            f"in {time.perf_counter() - start:.1f} s; model {model_dir}"
        )
        report = run_benchmark(
            page_set,
            model_dir,
            work,
            workers=args.workers,
            memory_pages=args.memory_pages if args.memory_check else None,
            pipeline_args=args.pipeline_arg,
            progress=not args.no_progress,
            rounds=args.rounds,
        )
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    print_report(report)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """`python -m docexit.benchmarks.pipeline_bench`."""
    parser = argparse.ArgumentParser(prog="docexit bench pipeline", description=__doc__)
    add_arguments(parser)
    return main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
