"""`docexit bench pipeline`: the whole pipeline's pages/s per stage and end to end, against two
Tesseract references run on the same pages with the same number of processes, in one run.

  cli       the Tesseract command line, one `tesseract PAGE - tsv` process per page (what a
            pytesseract backend does): process start and model load are paid on every page
  engine    a bare loop over a loaded tesserocr `PyTessBaseAPI` (one per process) that only
            recognises: SetImage + SetSourceResolution + GetTSVText, the calls the OCR module uses
  pipeline  `docexit run` (Beam DirectRunner; in-process for --workers 1, else
            multi_processing with --direct_num_workers N), figures from its output Parquet

Pages: decoded once (synthetic generator, seed 0, classes in turn; or `--input` files), each
written as one PNG holding exactly the image Tesseract sees, with its resolution, so the three
runs OCR the same pixels at the same dpi. Stage throughput is pages / (summed per-page engine
seconds / processes): `ocr_ms` per row for the pipeline (engine call only), the recognition calls
for the bare engine, the whole subprocess for the command line. The pipeline's OCR and inference
figures count only the pages that were OCRed (pages that leave at the vision stage have none;
`--pipeline-arg=--force-ocr` OCRs every page). End-to-end pages/s is the pipeline's wall clock
(start-up and model load included).

Targets (reported, never asserted): pipeline OCR >= 90% of the bare engine (so about 2x the
command line); inference < 1/3 of OCR time per page on CPU; with `--memory-check`, peak RSS of
the whole process tree flat from N to 10N pages (fresh `docexit run` subprocesses over the same
pages hard-linked under distinct names).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import logging
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DEFAULT_PAGES = 64
DEFAULT_MEMORY_PAGES = 100  # --memory-check runs N and 10N pages
ENGINE_TARGET = 0.9  # pipeline OCR pages/s >= 90% of the bare engine's
CLI_TARGET = 2.0  # bare engine about 2x the command line
INFERENCE_TARGET = 1 / 3  # inference time < 1/3 of OCR time per page
MEMORY_FLAT = 1.2  # peak RSS at 10N pages within +20% of N pages counts as flat


def log(*parts: object) -> None:
    """A progress line, flushed at once."""
    print(*parts, flush=True)


class Progress:
    """Counts finished pages of one run and logs about ten lines over it."""

    def __init__(self, name: str, total: int, enabled: bool = True) -> None:
        self.name, self.total, self.enabled = name, total, enabled
        self.every = max(1, total // 10)
        self.done = 0
        self.start = time.perf_counter()

    def step(self) -> None:
        self.done += 1
        if self.enabled and (self.done % self.every == 0 or self.done == self.total):
            elapsed = time.perf_counter() - self.start
            log(
                f"  {self.name}: {self.done}/{self.total} pages, {elapsed:.1f} s, "
                f"{self.done / max(elapsed, 1e-9):.2f} pages/s"
            )


# ---- pages --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchPage:
    """One page as every run sees it: a PNG of the exact image Tesseract gets, and its dpi."""

    path: str
    dpi: int
    source: str  # the file it was decoded from, and its page index
    page: int


@dataclass(frozen=True)
class PageSet:
    folder: str  # the PNGs, one per page (the pipeline's --input is folder/*)
    pages: list[BenchPage]
    origin: str  # where they came from, in words

    @property
    def pattern(self) -> str:
        return str(Path(self.folder) / "*.png")


def _synthetic_files(work: Path, pages: int, seed: int, workers: int) -> list[Path]:
    """Generated files (classes in turn: index-major), enough for `pages` pages."""
    from docexit.corpus.synth import LABELS, write_corpus

    per_class = max(1, math.ceil(pages / len(LABELS)))
    corpus = work / "synth"
    write_corpus(corpus, per_class=per_class, seed=seed, workers=workers)

    def order(path: Path) -> tuple[str, str]:
        label, _, index = path.stem.rpartition("_")
        return index, label

    return sorted((corpus / "images").iterdir(), key=order)


def _input_files(pattern: str) -> list[Path]:
    files = sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_file())
    if not files:
        raise FileNotFoundError(f"--input {pattern!r} matches no file")
    return files


def prepare_pages(
    work: str | Path,
    pages: int,
    input_pattern: str | None = None,
    seed: int = 0,
    dpi: int | None = None,
    workers: int = 1,
) -> PageSet:
    """The first `pages` pages of the synthetic corpus (or of `input_pattern`'s files, all of
    them when `pages` is 0), each decoded (`decode_pages`), prepared for Tesseract
    (`prepare_image`) and written as a lossless PNG with its dpi under `work/pages/`."""
    from docexit.transforms.decode import DEFAULT_DPI, decode_pages
    from docexit.transforms.ocr import prepare_image

    work = Path(work)
    if input_pattern:
        files, origin = _input_files(input_pattern), f"--input {input_pattern}"
    else:
        if pages < 1:
            raise ValueError("--pages must be >= 1 for synthetic pages")
        files = _synthetic_files(work, pages, seed, workers)
        origin = f"synthetic generator (seed {seed})"
    folder = work / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    out: list[BenchPage] = []
    for file in files:
        for decoded in decode_pages(file.read_bytes(), str(file), dpi=dpi or DEFAULT_DPI):
            image, page_dpi = prepare_image(decoded.image)
            path = folder / f"p{len(out):05d}_{file.stem}_{decoded.page}.png"
            image.save(path, dpi=(page_dpi, page_dpi))
            out.append(BenchPage(str(path), page_dpi, str(file), decoded.page))
            if pages and len(out) >= pages:
                return PageSet(str(folder), out, origin)
    if pages and len(out) < pages:
        log(f"note: {origin} holds {len(out)} pages, fewer than --pages {pages}")
    return PageSet(str(folder), out, origin)


# ---- references ---------------------------------------------------------------------------------


@dataclass
class ReferenceRun:
    """One reference over the page set."""

    name: str
    workers: int
    pages: int = 0  # pages recognised
    failures: int = 0  # pages that failed
    words: int = 0  # words recognised (a sanity check that both read the same)
    wall_s: float = 0.0  # the whole run, process start-up included
    busy_s: float = 0.0  # summed per-page seconds (engine calls / subprocesses)

    @property
    def pages_per_s(self) -> float:
        """Throughput of `workers` processes that only do this: pages / (busy_s / workers)."""
        return self.pages * self.workers / self.busy_s if self.busy_s > 0 else 0.0

    @property
    def wall_pages_per_s(self) -> float:
        return self.pages / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def ms_per_page(self) -> float:
        return 1000.0 * self.busy_s / self.pages if self.pages else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "pages_per_s": self.pages_per_s,
            "wall_pages_per_s": self.wall_pages_per_s,
            "ms_per_page": self.ms_per_page,
        }


PageResult = tuple[float, int | None]  # seconds, words (None: the page failed)


def _count_tsv_words(tsv: str) -> int:
    return sum(
        1
        for line in tsv.splitlines()
        if line.startswith("5\t") and len(f := line.split("\t", 11)) == 12 and f[11].strip()
    )


def cli_page(page: BenchPage, lang: str = "eng", psm: int = 3, oem: int = 1) -> PageResult:
    """`tesseract PAGE - --psm P --oem O --dpi D -l LANG tsv`, timed as a whole."""
    exe = shutil.which("tesseract") or "tesseract"
    command = [exe, page.path, "-", "--psm", str(psm), "--oem", str(oem), "--dpi", str(page.dpi)]
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # for the tesseract process only
    start = time.perf_counter()
    done = subprocess.run(
        [*command, "-l", lang, "tsv"], capture_output=True, text=True, env=env, check=False
    )
    seconds = time.perf_counter() - start
    return seconds, (_count_tsv_words(done.stdout) if done.returncode == 0 else None)


_API: Any = None  # this process's loaded PyTessBaseAPI (bare-engine reference)


def _load_api(lang: str = "eng", psm: int = 3, oem: int = 1) -> Any:
    """Load Tesseract once per process, with the settings `OcrEngine` uses."""
    global _API
    if _API is None:
        # Through the OCR module: it sets OMP_THREAD_LIMIT=1 before libtesseract loads.
        from docexit.transforms.ocr import OcrConfig, find_tessdata, tesserocr

        if tesserocr is None:
            raise RuntimeError("the bare-engine reference needs tesserocr (pip install tesserocr)")
        tessdata = find_tessdata(OcrConfig(lang=lang))
        if tessdata is None:
            raise RuntimeError(f"no tessdata folder holds {lang!r}")
        _API = tesserocr.PyTessBaseAPI(path=f"{tessdata}{os.sep}", lang=lang, oem=oem, psm=psm)
    return _API


def engine_page(page: BenchPage) -> PageResult:
    """Recognise one page on the loaded engine; only SetImage..GetTSVText is timed."""
    from PIL import Image

    api = _load_api()
    with Image.open(page.path) as opened:
        image = opened.copy()  # decoded here, outside the timed calls
    image.load()
    start = time.perf_counter()
    try:
        api.SetImage(image)
        api.SetSourceResolution(page.dpi)
        tsv = api.GetTSVText(0)
    except RuntimeError:
        return time.perf_counter() - start, None
    seconds = time.perf_counter() - start
    return seconds, (_count_tsv_words(tsv) if tsv is not None else None)


def _warm_engine(_: int) -> int:
    _load_api()
    return os.getpid()


def _run_reference(
    name: str,
    fn: Callable[[BenchPage], PageResult],
    pages: Sequence[BenchPage],
    workers: int,
    pool: Any,
    progress: bool,
) -> ReferenceRun:
    run = ReferenceRun(name, workers)
    bar = Progress(name, len(pages), progress)
    start = time.perf_counter()
    results: Iterable[PageResult] = map(fn, pages) if pool is None else pool.map(fn, pages)
    for seconds, words in results:
        run.busy_s += seconds
        if words is None:
            run.failures += 1
        else:
            run.pages += 1
            run.words += words
        bar.step()
    run.wall_s = time.perf_counter() - start
    return run


def run_cli(pages: Sequence[BenchPage], workers: int = 1, progress: bool = True) -> ReferenceRun:
    """The command-line reference: `workers` tesseract processes at a time, one per page."""
    with ThreadPoolExecutor(workers) as pool:  # each thread waits on its own tesseract process
        return _run_reference("cli", cli_page, pages, workers, pool, progress)


def run_engine(pages: Sequence[BenchPage], workers: int = 1, progress: bool = True) -> ReferenceRun:
    """The bare-engine reference: in this process for 1 worker, else `workers` spawned ones."""
    if workers <= 1:
        _load_api()  # model load outside the run, as a long-lived worker has it
        return _run_reference("engine", engine_page, pages, 1, None, progress)
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        list(pool.map(_warm_engine, range(workers)))  # start processes (not timed)
        return _run_reference("engine", engine_page, pages, workers, pool, progress)


# ---- the pipeline -------------------------------------------------------------------------------


def pipeline_argv(
    pattern: str, output: str, model_dir: str, workers: int, extra: Sequence[str] = ()
) -> list[str]:
    """`docexit run` arguments for the benchmark's pages."""
    argv = ["--input", pattern, "--output", output, "--model", model_dir, "--no-summary"]
    if workers > 1:
        argv += ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    return argv + list(extra)


def run_pipeline(
    page_set: PageSet,
    model_dir: str,
    output_dir: str | Path,
    workers: int = 1,
    extra: Sequence[str] = (),
    progress: bool = True,
) -> dict[str, Any]:
    """`docexit run` over the page set in this process; per-stage figures from its Parquet."""
    from docexit.pipeline.run import run
    from docexit.transforms.sinks import read_parquet

    total = len(page_set.pages)
    every = max(1, math.ceil(total / max(1, workers) / 10)) if progress else 0
    argv = pipeline_argv(
        page_set.pattern,
        str(Path(output_dir) / "pages"),
        model_dir,
        workers,
        ["--progress-every", str(every), *extra],
    )
    summary = run(argv)
    rows = read_parquet(summary.row_files).to_pylist()
    ocred = [r for r in rows if r["ocr_ran"]]  # pages that left at the vision stage had no OCR
    ocr_ms = [r["ocr_ms"] for r in ocred]
    inference_ms = [r["inference_ms"] for r in ocred]  # the multimodal model's share
    exit_layers = [r["exit_layer"] for r in rows]
    n = len(ocr_ms)
    median = statistics.median if n else (lambda _: 0.0)
    ocr_s, inference_s = sum(ocr_ms) / 1000.0, sum(inference_ms) / 1000.0
    return {
        "argv": argv,
        "workers": workers,
        "pages_in": total,
        "rows": summary.pages,
        "dead_letters": summary.total_dead_letters,
        "dead_letter_stages": summary.dead_letters,
        "wall_s": summary.seconds,
        "pages_per_s": summary.pages / summary.seconds if summary.seconds > 0 else 0.0,
        "ocr": {
            "pages": n,  # pages that were OCRed
            "sum_s": ocr_s,
            "ms_per_page": 1000.0 * ocr_s / n if n else 0.0,
            "median_ms": median(ocr_ms),
            "pages_per_s": n * workers / ocr_s if ocr_s > 0 else 0.0,
        },
        "inference": {
            "sum_s": inference_s,
            "ms_per_page": 1000.0 * inference_s / n if n else 0.0,
            "median_ms": median(inference_ms),  # robust to a slow first batch (warm-up)
            "max_ms": max(inference_ms, default=0.0),
        },
        "exit_layers": {str(k): exit_layers.count(k) for k in sorted(set(exit_layers))},
        "skip_ocr_share": 1.0 - n / len(rows) if rows else 0.0,
        "metrics": summary.metrics,
    }


# ---- memory -------------------------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])  # fields after "(comm)": state, ppid
        children.setdefault(ppid, []).append(int(entry))
    return children


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of `pid` and all its descendants, now (Linux /proc; 0 if gone)."""
    page_size = os.sysconf("SC_PAGE_SIZE")
    children, total, todo = _children_map(), 0, [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * page_size
        todo += children.get(current, [])
    return total


def run_with_peak_rss(
    command: Sequence[str], interval_s: float = 0.2, **popen: Any
) -> tuple[int, int, float]:
    """Run `command`; return (exit code, peak RSS of its process tree in bytes, seconds)."""
    start = time.perf_counter()
    process = subprocess.Popen(list(command), **popen)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss_bytes(process.pid))
        time.sleep(interval_s)
    return process.returncode, peak, time.perf_counter() - start


def link_pages(page_set: PageSet, count: int, folder: Path) -> str:
    """`count` pages under `folder`: the page set's files again and again, hard-linked (copied
    where linking fails) under distinct names; returns the input pattern."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        page = page_set.pages[i % len(page_set.pages)]
        target = folder / f"c{i // len(page_set.pages):04d}_{Path(page.path).name}"
        try:
            os.link(page.path, target)
        except OSError:
            shutil.copyfile(page.path, target)
    return str(folder / "*.png")


def memory_check(
    page_set: PageSet,
    model_dir: str,
    work: Path,
    pages: int = DEFAULT_MEMORY_PAGES,
    workers: int = 1,
    extra: Sequence[str] = (),
    progress: bool = True,
) -> dict[str, Any]:
    """`docexit run` on `pages` and 10x `pages` pages in fresh subprocesses: peak tree RSS."""
    runs = []
    for count in (pages, 10 * pages):
        pattern = link_pages(page_set, count, work / f"memory-{count}")
        output = work / f"memory-{count}-out" / "pages"
        command = [
            sys.executable,
            "-m",
            "docexit.pipeline.cli",
            "run",
            *pipeline_argv(pattern, str(output), model_dir, workers, ["--progress-every", "0"]),
            *extra,
        ]
        if progress:
            log(f"  memory: docexit run on {count} pages in a fresh process...")
        log_path = work / f"memory-{count}.log"
        with log_path.open("w") as log_file:
            code, peak, seconds = run_with_peak_rss(command, stdout=log_file, stderr=log_file)
        rows = _count_rows(str(output)) if code == 0 else 0
        if code != 0:
            log(f"  memory: docexit run failed ({code}):\n{log_path.read_text()[-2000:]}")
        runs.append(
            {
                "pages": count,
                "exit_code": code,
                "rows": rows,
                "peak_rss_mb": peak / 2**20,
                "wall_s": seconds,
            }
        )
        if progress:
            log(f"  memory: {count} pages: peak {peak / 2**20:.0f} MB, {seconds:.1f} s, rc {code}")
    growth = runs[1]["peak_rss_mb"] / runs[0]["peak_rss_mb"] if runs[0]["peak_rss_mb"] else 0.0
    return {"workers": workers, "runs": runs, "growth": growth}


def _count_rows(output: str) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in glob.glob(f"{output}/rows/*.parquet"))


# ---- the benchmark ------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def derive(report: dict[str, Any]) -> dict[str, Any]:
    """Ratios, count checks and targets from the three runs (and the memory check)."""
    cli, engine, pipe = report["cli"], report["engine"], report["pipeline"]
    ratios = {
        "pipeline_ocr_vs_engine": _ratio(pipe["ocr"]["pages_per_s"], engine["pages_per_s"]),
        "engine_vs_cli": _ratio(engine["pages_per_s"], cli["pages_per_s"]),
        "pipeline_ocr_vs_cli": _ratio(pipe["ocr"]["pages_per_s"], cli["pages_per_s"]),
        "inference_vs_ocr": _ratio(pipe["inference"]["sum_s"], pipe["ocr"]["sum_s"]),
    }
    n = report["pages"]["count"]
    counts = {
        "cli": cli["pages"] + cli["failures"] == n,
        "engine": engine["pages"] + engine["failures"] == n,
        "pipeline": pipe["rows"] + pipe["dead_letters"] == n == pipe["pages_in"],
    }

    def at_least(value: float | None, bound: float) -> bool | None:
        return None if value is None else value >= bound

    targets: dict[str, bool | None] = {
        f"pipeline OCR >= {ENGINE_TARGET:.0%} of the bare engine": at_least(
            ratios["pipeline_ocr_vs_engine"], ENGINE_TARGET
        ),
        f"bare engine >= {CLI_TARGET:g}x the command line": at_least(
            ratios["engine_vs_cli"], CLI_TARGET
        ),
        "inference < 1/3 of OCR time per page": None
        if ratios["inference_vs_ocr"] is None
        else ratios["inference_vs_ocr"] < INFERENCE_TARGET,
    }
    memory = report.get("memory")
    if memory:
        ok = all(r["exit_code"] == 0 and r["rows"] == r["pages"] for r in memory["runs"])
        counts["memory"] = ok
        targets[f"peak RSS flat from N to 10N pages (< {MEMORY_FLAT:g}x)"] = (
            memory["growth"] < MEMORY_FLAT if ok else None
        )
    return {"ratios": ratios, "counts_add_up": counts, "targets": targets}


def run_benchmark(
    page_set: PageSet,
    model_dir: str,
    work: Path,
    workers: int = 1,
    memory_pages: int | None = None,
    pipeline_args: Sequence[str] = (),
    progress: bool = True,
) -> dict[str, Any]:
    """The three runs over `page_set` (and the memory check when `memory_pages`): the report."""
    import torch

    from docexit.transforms.inference import model_id, read_model_config
    from docexit.transforms.ocr import OcrConfig, check_ocr_available, tesseract_version

    config = read_model_config(model_dir)
    pages = page_set.pages
    report: dict[str, Any] = {
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
        "torch_threads": torch.get_num_threads(),
        "tesseract": {
            "pipeline_backend": check_ocr_available(OcrConfig()),
            "tesserocr": tesseract_version("tesserocr"),
            "cli": tesseract_version("pytesseract"),
        },
    }
    log(f"[1/3] command line: tesseract per page, {workers} at a time")
    report["cli"] = run_cli(pages, workers, progress).to_dict()
    log(f"[2/3] bare engine: loaded PyTessBaseAPI, {workers} process(es)")
    report["engine"] = run_engine(pages, workers, progress).to_dict()
    log(f"[3/3] pipeline: docexit run, {workers} worker(s)")
    report["pipeline"] = run_pipeline(
        page_set, model_dir, work / "pipeline-out", workers, pipeline_args, progress
    )
    if memory_pages:
        log(f"[memory] {memory_pages} vs {10 * memory_pages} pages")
        report["memory"] = memory_check(
            page_set, model_dir, work, memory_pages, workers, pipeline_args, progress
        )
    report.update(derive(report))
    return report


def _fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def print_report(report: dict[str, Any]) -> None:
    """The table: pages/s and ms/page per run and stage, the ratios, the targets."""
    cli, engine, pipe = report["cli"], report["engine"], report["pipeline"]
    pages = report["pages"]
    print(
        f"\n{pages['count']} pages ({pages['origin']}), model {report['model']['id']}, "
        f"{report['workers']} worker(s), torch threads {report['torch_threads']}"
    )
    print(f"{'run':<24}{'pages':>7}{'pages/s':>10}{'ms/page':>10}{'wall s':>9}{'wall p/s':>10}")

    def row(name: str, n: int, pps: float, ms: float, wall: float | None, wall_pps: float | None):
        print(f"{name:<24}{n:>7}{pps:>10.2f}{ms:>10.0f}{_fmt(wall, '.1f'):>9}{_fmt(wall_pps):>10}")

    row("tesseract CLI", cli["pages"], cli["pages_per_s"], cli["ms_per_page"], cli["wall_s"],
        cli["wall_pages_per_s"])  # fmt: skip
    row("bare engine (tesserocr)", engine["pages"], engine["pages_per_s"], engine["ms_per_page"],
        engine["wall_s"], engine["wall_pages_per_s"])  # fmt: skip
    ocred = pipe["ocr"].get("pages", pipe["rows"])
    row("pipeline OCR stage", ocred, pipe["ocr"]["pages_per_s"], pipe["ocr"]["ms_per_page"],
        None, None)  # fmt: skip
    inference_pps = (
        1000.0 * report["workers"] / pipe["inference"]["ms_per_page"]
        if pipe["inference"]["ms_per_page"] > 0
        else 0.0
    )
    row("pipeline inference", ocred, inference_pps, pipe["inference"]["ms_per_page"],
        None, None)  # fmt: skip
    row("pipeline end to end", pipe["rows"], pipe["pages_per_s"],
        1000.0 * pipe["wall_s"] / max(1, pipe["rows"]), pipe["wall_s"], pipe["pages_per_s"])  # fmt: skip
    r = report["ratios"]
    print(
        f"ratios: pipeline OCR / bare engine {_fmt(r['pipeline_ocr_vs_engine'])}, "
        f"bare engine / CLI {_fmt(r['engine_vs_cli'])}, "
        f"pipeline OCR / CLI {_fmt(r['pipeline_ocr_vs_cli'])}, "
        f"inference / OCR {_fmt(r['inference_vs_ocr'], '.3f')}"
    )
    inference = pipe["inference"]
    print(
        f"inference ms/page: mean {inference['ms_per_page']:.1f}, median "
        f"{inference.get('median_ms', 0.0):.1f}, max {inference.get('max_ms', 0.0):.1f}"
    )
    print(
        f"pipeline: {pipe['rows']} rows + {pipe['dead_letters']} dead letters of "
        f"{pipe['pages_in']} pages ({pipe.get('skip_ocr_share', 0.0):.0%} skipped OCR at the "
        f"vision stage); words: CLI {cli['words']}, engine {engine['words']}"
    )
    memory = report.get("memory")
    if memory:
        runs = ", ".join(
            f"{m['pages']} pages {m['peak_rss_mb']:.0f} MB ({m['wall_s']:.0f} s)"
            for m in memory["runs"]
        )
        print(f"peak RSS of the process tree: {runs}; growth {memory['growth']:.2f}x")
    for name, ok in report["counts_add_up"].items():
        if not ok:
            print(f"  [WARN] {name}: page counts do not add up")
    for name, ok in report["targets"].items():
        print(f"  [{'n/a' if ok is None else 'PASS' if ok else 'MISS'}] {name}")


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
    if args.workers < 1:
        print("docexit bench pipeline: --workers must be >= 1", file=sys.stderr)
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
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="docexit-bench-pipeline-"))
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
