"""The per-page Beam stages before the model: read+decode, OCR, featurize.

Each DoFn turns one element into zero or more outputs on its main output and sends every failure
to the tagged output `DEAD_LETTERS` (stage named), so no single bad file or page fails the run.
Heavy state (the OCR engine, the tokenizer) is created once per DoFn instance in `setup()`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.metrics import Metrics

from docexit.transforms.dead_letters import DEAD_LETTERS, METRICS_NAMESPACE, dead_letter
from docexit.transforms.decode import (
    DEFAULT_DPI,
    DEFAULT_MAX_PAGES,
    DEFAULT_MAX_PIXELS,
    content_hash,
    decode_pages,
)
from docexit.transforms.elements import FeaturizedPage
from docexit.transforms.records import PageImage, PageRecord

LOG = logging.getLogger(__name__)

Output = Any  # a main output element or a beam.pvalue.TaggedOutput


class ReadAndDecodeFn(beam.DoFn):
    """ReadableFile -> PageImage per page; read and decode failures -> dead letters.

    With `existing` (a side input: content hash -> True, see `transforms.existing`), a file whose
    bytes hash to a known content hash is skipped as a whole and counted in `skipped_existing`.
    """

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
        self._skipped = Metrics.counter(METRICS_NAMESPACE, "skipped_existing")

    def process(
        self, readable: fileio.ReadableFile, existing: Mapping[str, Any] | None = None
    ) -> Iterator[Output]:
        source = readable.metadata.path
        self._files.inc()
        try:
            data = readable.read()
        except Exception as error:  # noqa: BLE001 - every failure becomes a dead letter
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, dead_letter("read", source, None, error))
            return
        if existing and content_hash(data) in existing:
            self._skipped.inc()
            return
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
    """PageImage -> PageRecord (words, 0-1000 boxes, OCR time) with one engine per worker."""

    def __init__(self, ocr_config: dict[str, Any] | None = None, progress_every: int = 25) -> None:
        self._ocr_config = dict(ocr_config or {})
        self._progress_every = progress_every
        self._ocr_ms = Metrics.distribution(METRICS_NAMESPACE, "ocr_ms")
        self._engine: Any = None
        self._done = 0
        self._started = 0.0

    def setup(self) -> None:
        from docexit.transforms.ocr import OcrConfig, get_engine

        self._engine = get_engine(OcrConfig(**self._ocr_config))
        self._started = time.monotonic()

    def process(self, page: PageImage) -> Iterator[Output]:
        try:
            result = self._engine.recognize(page.image)
        except Exception as error:  # noqa: BLE001
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTERS, dead_letter("ocr", page.source, page.page, error)
            )
            return
        ocr_ms = result.seconds * 1000.0
        self._ocr_ms.update(round(ocr_ms))
        self._log_progress()
        yield PageRecord(
            source=page.source,
            page=page.page,
            content_hash=page.content_hash,
            width=page.image.width,
            height=page.image.height,
            words=list(result.words),
            boxes=[tuple(box) for box in result.boxes],
            ocr_ms=ocr_ms,
            image=page.image,
        )

    def _log_progress(self) -> None:
        self._done += 1
        if self._progress_every > 0 and self._done % self._progress_every == 0:
            elapsed = time.monotonic() - self._started
            LOG.info("OCR: %d pages in this worker, %.2f pages/s", self._done, self._done / elapsed)


class FeaturizeFn(beam.DoFn):
    """PageRecord -> (key, FeaturizedPage): WordPiece tokens, token boxes, normalised pixels."""

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
                DEAD_LETTERS, dead_letter("featurize", record.source, record.page, error)
            )
            return
        page = FeaturizedPage(
            source=record.source,
            page=record.page,
            content_hash=record.content_hash,
            width=record.width,
            height=record.height,
            word_count=len(record.words),
            ocr_ms=record.ocr_ms,
            features=features,
        )
        yield page.key, page
