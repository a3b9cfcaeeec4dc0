"""The per-page Beam stages before the model: read+decode, OCR, featurize.

Each DoFn turns one element into zero or more outputs on its main output and sends every failure
to the tagged output `DEAD_LETTERS` (stage named), so no single bad file or page fails the run.
Heavy state (the OCR engine, the tokenizer) is created once per DoFn instance in `setup()`.

`RunStage` applies one of them and returns its main output and dead letters; with `isolate` it
runs the DoFn in a child process (Beam's `with_exception_handling(use_subprocess=True)`), so a
crash in native code (libtiff, PDFium, Tesseract) or a call past a hard time limit becomes a dead
letter for that element instead of failing the bundle.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.metrics import Metrics

from docexit.transforms.dead_letters import (
    DEAD_LETTERS,
    METRICS_NAMESPACE,
    DeadLetter,
    dead_letter,
    page_dead_letter,
)
from docexit.transforms.decode import (
    DEFAULT_DPI,
    DEFAULT_MAX_PAGES,
    DEFAULT_MAX_PIXELS,
    decode_pages,
)
from docexit.transforms.page_record import PageRecord

LOG = logging.getLogger(__name__)

Output = Any  # a main output element or a beam.pvalue.TaggedOutput
MAIN = "main"  # main output tag of a stage
CRASHED = "crashed"  # tag of the elements an isolated stage's child process failed on
# Beam distributions (namespace `docexit`) of each OCRed page's engine call, in microseconds:
# wall clock and CPU time, one update per page that got words (not reported from a child process
# under --isolate-native-crashes). `docexit bench pipeline` compares them with the bare engine.
OCR_WALL_US = "ocr_wall_us"
OCR_CPU_US = "ocr_cpu_us"


def printable_path(path: str) -> str:
    """`path` as valid UTF-8 text for rows and messages: file-name bytes that are not UTF-8
    (which Python keeps as lone surrogates) become `\\xNN` escapes; other paths are unchanged."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class ReadAndDecodeFn(beam.DoFn):
    """ReadableFile -> PageRecord (with its image) per page; read and decode failures -> dead
    letters. Counts `files_in`, `bytes_read` and `pages_in`."""

    def __init__(
        self,
        *,
        dpi: int = DEFAULT_DPI,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        self._dpi = dpi
        self._max_pixels = max_pixels
        self._max_pages = max_pages
        self._files = Metrics.counter(METRICS_NAMESPACE, "files_in")
        self._pages_in = Metrics.counter(METRICS_NAMESPACE, "pages_in")
        self._bytes = Metrics.counter(METRICS_NAMESPACE, "bytes_read")

    def process(self, readable: fileio.ReadableFile) -> Iterator[Output]:
        source = printable_path(readable.metadata.path)
        self._files.inc()
        try:
            data = readable.read()
        except Exception as error:  # noqa: BLE001 - every failure becomes a dead letter
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, dead_letter("read", source, None, error))
            return
        self._bytes.inc(len(data))
        next_page = 0
        try:
            for page in decode_pages(
                data, source, dpi=self._dpi, max_pixels=self._max_pixels, max_pages=self._max_pages
            ):
                next_page = page.page + 1
                self._pages_in.inc()
                yield page
        except Exception as error:  # noqa: BLE001
            # Pages before the failing one went on; the dead letter names the page that failed
            # (None when the file failed as a whole, before its first page).
            page_index = next_page if next_page > 0 else None
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTERS, dead_letter("decode", source, page_index, error)
            )


class OcrFn(beam.DoFn):
    """PageRecord -> the same with its OCR (words, 0-1000 boxes, OCR time), one engine per
    worker."""

    def __init__(self, ocr_config: dict[str, Any] | None = None, progress_every: int = 25) -> None:
        self._ocr_config = dict(ocr_config or {})
        self._progress_every = progress_every
        self._ocr_ms = Metrics.distribution(METRICS_NAMESPACE, "ocr_ms")
        self._ocr_wall_us = Metrics.distribution(METRICS_NAMESPACE, OCR_WALL_US)
        self._ocr_cpu_us = Metrics.distribution(METRICS_NAMESPACE, OCR_CPU_US)
        self._engine: Any = None
        self._done = 0
        self._started = 0.0

    def setup(self) -> None:
        from docexit.transforms.ocr import OcrConfig, get_engine

        self._engine = get_engine(OcrConfig(**self._ocr_config))
        self._started = time.monotonic()

    def process(self, page: PageRecord) -> Iterator[Output]:
        try:
            result = self._engine.recognize(page.image)
            page = page.with_ocr(result)
        except Exception as error:  # noqa: BLE001
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, page_dead_letter("ocr", page, error))
            return
        self._ocr_ms.update(round(page.ocr_ms))
        self._ocr_wall_us.update(round(result.seconds * 1e6))
        self._ocr_cpu_us.update(round(result.cpu_seconds * 1e6))
        self._log_progress()
        yield page

    def _log_progress(self) -> None:
        self._done += 1
        if self._progress_every > 0 and self._done % self._progress_every == 0:
            elapsed = time.monotonic() - self._started
            LOG.info("OCR: %d pages in this worker, %.2f pages/s", self._done, self._done / elapsed)


class FeaturizeFn(beam.DoFn):
    """PageRecord -> (key, PageRecord with its features: tokens, token boxes, pixels)."""

    def __init__(self, featurizer_kwargs: dict[str, Any] | None = None) -> None:
        self._featurizer_kwargs = dict(featurizer_kwargs or {})
        self._featurizer: Any = None

    def setup(self) -> None:
        from docexit.transforms.featurize import Featurizer

        self._featurizer = Featurizer(**self._featurizer_kwargs)

    def process(self, record: PageRecord) -> Iterator[Output]:
        try:
            if record.image is None:
                raise ValueError("page record has no image to featurize")
            features = self._featurizer(record.words, record.boxes, record.image)
        except Exception as error:  # noqa: BLE001
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTERS, page_dead_letter("featurize", record, error)
            )
            return
        yield record.key(), record.with_features(features)


# --- stages, optionally isolated in a child process -------------------------------------------


class StageOutputs(NamedTuple):
    main: beam.PCollection  # the DoFn's main output
    dead_letters: beam.PCollection  # DeadLetter: its own failures, plus crashes when isolated


class IsolatedStageError(RuntimeError):
    """An element whose isolated child process crashed or ran out of time."""


def isolated_ocr_timeout(ocr_timeout: float | None) -> float | None:
    """Hard limit for one page in an isolated OCR stage: Tesseract's own `--ocr-timeout` gets
    the first chance (a clean dead letter, no restart); the child process is killed at
    2 x that + 10 s (layout analysis, which Tesseract cannot cancel, included). None: no limit."""
    return 2.0 * ocr_timeout + 10.0 if ocr_timeout else None


def element_source(element: Any) -> tuple[str, int | None]:
    """(source, page) of a stage's input: a ReadableFile (whole file) or a page element."""
    metadata = getattr(element, "metadata", None)
    if metadata is not None and hasattr(metadata, "path"):
        return printable_path(metadata.path), None
    if hasattr(element, "source") and hasattr(element, "page"):  # a PageRecord
        return element.source, element.page
    return repr(element)[:200], None


def crash_dead_letter(
    failure: tuple[Any, tuple[Any, str, Any]], stage: str, timeout: float | None = None
) -> DeadLetter:
    """Beam's (element, (exception type, repr, traceback)) of an isolated stage -> a DeadLetter."""
    element, (error_type, error_repr, _traceback) = failure
    name = getattr(error_type, "__name__", str(error_type))
    if isinstance(error_type, type) and issubclass(error_type, TimeoutError):
        message = (
            f"{stage} of this input was still running after {timeout:g} s: its process was "
            "killed (--isolate-native-crashes)"
        )
    elif name == "BrokenProcessPool":
        message = (
            f"the process running {stage} died on this input: a crash in native code (libtiff, "
            f"PDFium, Tesseract?), isolated by --isolate-native-crashes ({error_repr})"
        )
    else:
        message = error_repr
    source, page = element_source(element)
    letter = dead_letter(stage, source, page, IsolatedStageError(message))
    return replace(letter, error_type=name)


class RunStage(beam.PTransform):
    """PCollection -> `StageOutputs`: `fn` (main output + tagged `DEAD_LETTERS`) applied, with
    `isolate`, through Beam's `with_exception_handling(use_subprocess=True, timeout=timeout)`.

    Isolated, each DoFn instance keeps one long-lived child process (setup() runs there), so a
    native crash or an element past `timeout` seconds costs a restart of that child and a dead
    letter at `stage`; the run goes on. Elements and outputs cross the process boundary pickled,
    and a stage's outputs for one element come back together (all pages of a file at once for
    decode). Metrics updated in the child are not reported.
    """

    def __init__(
        self,
        fn: beam.DoFn,
        stage: str,
        *side_inputs: Any,
        isolate: bool = False,
        timeout: float | None = None,
    ) -> None:
        super().__init__()
        self._fn = fn
        self._stage = stage
        self._side_inputs = side_inputs
        self._isolate = isolate
        self._timeout = timeout

    def expand(self, pcoll: beam.PCollection) -> StageOutputs:
        pardo = beam.ParDo(self._fn, *self._side_inputs).with_outputs(DEAD_LETTERS, main=MAIN)
        if not self._isolate:
            outputs = pcoll | "Run" >> pardo
            return StageOutputs(outputs[MAIN], outputs[DEAD_LETTERS])
        outputs = pcoll | "RunIsolated" >> pardo.with_exception_handling(
            dead_letter_tag=CRASHED, use_subprocess=True, timeout=self._timeout
        )
        crashed = outputs[CRASHED] | "CrashesToDeadLetters" >> beam.Map(
            crash_dead_letter, self._stage, self._timeout
        )
        dead = (outputs[DEAD_LETTERS], crashed) | "StageDeadLetters" >> beam.Flatten()
        return StageOutputs(outputs[MAIN], dead)
