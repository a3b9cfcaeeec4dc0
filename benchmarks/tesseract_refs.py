"""The two Tesseract references `docexit bench pipeline` runs over its pages, with the same
number of processes as the pipeline:

  cli     the Tesseract command line, one `tesseract PAGE - tsv` process per page (what a
          pytesseract backend does): process start and model load are paid on every page
  engine  a bare loop over a loaded tesserocr `PyTessBaseAPI` (one per process) that only
          recognises, with the calls the OCR module makes: SetImage, SetSourceResolution,
          Recognize (with the OCR timeout), GetTSVText, Clear

Each keeps every page's seconds, so that a ratio can be taken over any subset of the pages."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from docexit.benchmarks.pipeline_pages import BenchPage
from docexit.benchmarks.timing import log


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
    cpu_s: float = 0.0  # their CPU seconds (engine: the calling thread's; cli: not measured)
    seconds: dict[str, float] = field(default_factory=dict)  # file name -> seconds (recognised)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # file name -> CPU s (engine)

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


PageResult = tuple[float, float, int | None]  # seconds, CPU seconds, words (None: failed)


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
    words = _count_tsv_words(done.stdout) if done.returncode == 0 else None
    return seconds, 0.0, words  # the child's CPU time is not told apart per page


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
    """Recognise one page on the loaded engine with the calls `OcrEngine` makes under
    `docexit run`'s defaults (SetImage, SetSourceResolution, Recognize with the OCR timeout,
    GetTSVText, Clear); only those calls are timed."""
    from PIL import Image

    from docexit.pipeline.options import DEFAULT_OCR_TIMEOUT

    api = _load_api()
    with Image.open(page.path) as opened:
        image = opened.copy()  # decoded here, outside the timed calls
    image.load()
    start, cpu_start = time.perf_counter(), time.thread_time()
    try:
        api.SetImage(image)
        api.SetSourceResolution(page.dpi)
        finished = api.Recognize(timeout=round(DEFAULT_OCR_TIMEOUT * 1000))
        tsv = api.GetTSVText(0) if finished else None
    except RuntimeError:
        tsv = None
    finally:
        api.Clear()
    seconds, cpu = time.perf_counter() - start, time.thread_time() - cpu_start
    return seconds, cpu, (_count_tsv_words(tsv) if tsv is not None else None)


def paired_calls(pages: Sequence[BenchPage]) -> list[tuple[float, float]]:
    """(bare-loop CPU s, pipeline-engine CPU s) of each page, both calls in this thread one after
    the other (which goes first alternates): the bare loop's calls (`engine_page`) and the
    pipeline's `OcrEngine.recognize` with `docexit run`'s default OCR settings, on the page as
    the pipeline decodes it. The first page's pair warms both engines and is left out."""
    from docexit.pipeline.options import DEFAULT_OCR_TIMEOUT
    from docexit.transforms.decode import decode_pages
    from docexit.transforms.ocr import OcrConfig, get_engine

    engine = get_engine(OcrConfig(timeout=DEFAULT_OCR_TIMEOUT))
    pairs = []
    for i, page in enumerate(pages):
        image = next(iter(decode_pages(Path(page.path).read_bytes(), page.path))).image
        if i % 2:
            pipeline_cpu = engine.recognize(image).cpu_seconds
            bare_cpu = engine_page(page)[1]
        else:
            bare_cpu = engine_page(page)[1]
            pipeline_cpu = engine.recognize(image).cpu_seconds
        pairs.append((bare_cpu, pipeline_cpu))
    return pairs[1:]


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
    for page, (seconds, cpu, words) in zip(pages, results, strict=True):
        run.busy_s += seconds
        run.cpu_s += cpu
        if words is None:
            run.failures += 1
        else:
            run.pages += 1
            run.words += words
            run.seconds[Path(page.path).name] = seconds
            run.cpu_seconds[Path(page.path).name] = cpu
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
