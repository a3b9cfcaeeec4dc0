"""The vision stage: decoded pages whose image alone is classified with confidence skip OCR.

    PageRecord --RunInference(VisualExitHandler)--> confident: output row (exit_stage "vision",
                                                    ocr_ran False)
                                                  \\-> the rest: PageRecord on to OCR

The handler loads only the checkpoint's visual exit (a small CNN, `models/visual_exit.py`), once
per worker process. The stage is an optimisation: a batch it fails on goes on to OCR whole,
so it never loses or dead-letters a page. It has no Flatten on the page path: the DirectRunner
materialises a Flatten's inputs, and these elements hold whole page images.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import (
    KeyedModelHandler,
    ModelHandler,
    PredictionResult,
    RunInference,
)

from docexit.transforms.dead_letters import METRICS_NAMESPACE
from docexit.transforms.featurize import image_to_pixels
from docexit.transforms.page_record import PageExit, PageRecord
from docexit.transforms.rows import VISION_EXIT_LAYER, VISION_STAGE, page_row

LOG = logging.getLogger(__name__)
VISION_POLICY = "visual_max_prob"  # `exit_policy` of rows from the vision stage
BACKBONE_IMAGE_SIDE = 224  # the visual exit reads the backbone's page image


@dataclass(frozen=True)
class VisualDecision:
    """The vision stage's answer for one page."""

    exits: bool  # True: the page skips OCR with `label_id`
    label_id: int
    confidence: float  # calibrated
    inference_ms: float  # the page's share of its batch


class VisualExitRunner:
    """What `VisualExitHandler.load_model` returns: the visual exit, its temperature and threshold."""

    def __init__(self, exit_: Any, threshold: float) -> None:
        self.exit = exit_
        self.temperature = float(exit_.spec["temperature"])
        self.threshold = float(threshold)

    def decide(self, images: Sequence[Any]) -> list[VisualDecision]:
        import torch

        start = time.perf_counter()
        pixels = np.stack([image_to_pixels(image, BACKBONE_IMAGE_SIDE) for image in images])
        with torch.inference_mode():
            logits = self.exit(torch.from_numpy(pixels))  # (B, C)
            confidence, label = (logits / self.temperature).softmax(dim=-1).max(dim=-1)  # (B,)
        share_ms = (time.perf_counter() - start) * 1000.0 / max(1, len(images))
        return [
            VisualDecision(c >= self.threshold, int(k), c, share_ms)
            for c, k in zip(confidence.tolist(), label.tolist(), strict=True)
        ]


class VisualExitHandler(ModelHandler[PageRecord, VisualDecision, VisualExitRunner]):
    """Beam `ModelHandler` for a checkpoint's visual exit; examples are decoded `PageRecord`s."""

    def __init__(
        self,
        model_dir: str,
        threshold: float,
        *,
        min_batch_size: int = 1,
        max_batch_size: int = 32,
        torch_threads: int | None = None,
    ) -> None:
        super().__init__(min_batch_size=min_batch_size, max_batch_size=max_batch_size)
        self._model_dir = str(model_dir)
        self._threshold = float(threshold)
        self._torch_threads = torch_threads

    def load_model(self) -> VisualExitRunner:
        import torch

        from docexit.models.device import worker_threads
        from docexit.models.visual_exit import load_visual_exit

        torch.set_num_threads(worker_threads(self._torch_threads, "cpu"))  # the CNN runs on CPU
        exit_ = load_visual_exit(self._model_dir)
        if exit_ is None:
            raise ValueError(f"the model in {self._model_dir} has no visual exit")
        return VisualExitRunner(exit_, self._threshold)

    def run_inference(
        self,
        batch: Sequence[PageRecord],
        model: VisualExitRunner,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[PredictionResult]:
        try:
            decisions = model.decide([page.image for page in batch])
        except Exception:  # noqa: BLE001 - an optimisation must not fail pages: OCR them all
            LOG.warning(
                "vision stage failed on %d pages; they go to OCR", len(batch), exc_info=True
            )
            decisions = [VisualDecision(False, -1, 0.0, 0.0)] * len(batch)
        return [
            PredictionResult(example=page, inference=decision, model_id=self._model_dir)
            for page, decision in zip(batch, decisions, strict=True)
        ]

    def get_num_bytes(self, batch: Sequence[PageRecord]) -> int:
        return sum(page.image.width * page.image.height for page in batch if page.image)

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE


class _SplitFn(beam.DoFn):
    """(key, PredictionResult) -> a row (tag "rows") when the page exits, else its PageRecord."""

    ROWS = "rows"

    def __init__(self, meta: Mapping[str, Any], threshold: float) -> None:
        self._meta = dict(meta)
        self._threshold = threshold
        self._skipped = Metrics.counter(METRICS_NAMESPACE, "pages_skipping_ocr")
        self._pages_out = Metrics.counter(METRICS_NAMESPACE, "pages_out")

    def process(self, element: tuple[str, PredictionResult]) -> Iterator[Any]:
        _, result = element
        page: PageRecord = result.example
        decision: VisualDecision = result.inference
        if not decision.exits:
            yield page
            return
        self._skipped.inc()
        self._pages_out.inc()
        exit_ = PageExit(
            label_id=decision.label_id,
            confidence=decision.confidence,
            exit_stage=VISION_STAGE,
            exit_layer=VISION_EXIT_LAYER,
            exit_index=VISION_EXIT_LAYER,
            exit_policy=VISION_POLICY,
            exit_threshold=self._threshold,
            inference_ms=decision.inference_ms,
        )
        yield beam.pvalue.TaggedOutput(self.ROWS, page_row(page.with_exit(exit_), self._meta))


class VisionStageOutputs(NamedTuple):
    rows: beam.PCollection  # output row dicts of the pages that exited
    to_ocr: beam.PCollection  # PageRecord: every other page


class VisionStage(beam.PTransform):
    """PageRecord -> `VisionStageOutputs`: every page comes out exactly once, in one of the two."""

    def __init__(self, handler: VisualExitHandler, meta: Mapping[str, Any], threshold: float):
        super().__init__()
        self._handler = handler
        self._meta = dict(meta)
        self._threshold = float(threshold)

    def expand(self, pages: beam.PCollection) -> VisionStageOutputs:
        results = (
            pages
            | "Key" >> beam.Map(lambda page: (page.key(), page))
            | "RunInference" >> RunInference(KeyedModelHandler(self._handler))
        )
        split = results | "Split" >> beam.ParDo(_SplitFn(self._meta, self._threshold)).with_outputs(
            _SplitFn.ROWS, main="to_ocr"
        )
        return VisionStageOutputs(split[_SplitFn.ROWS], split.to_ocr)
