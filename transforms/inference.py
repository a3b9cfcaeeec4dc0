"""Classify pages with Beam's `RunInference` and the project's own `EarlyExitModelHandler`.

`EarlyExitModelHandler.load_model` returns an `EarlyExitRunner` (model + device + exit policy),
loaded once per worker process by RunInference's `shared.Shared` (or once per machine with
`large_model`/`model_copies`, through `multi_process_shared`: the runner's `classify` takes and
returns plain picklable values, so it works through that proxy too). `run_inference` hands its
whole batch to the model's early-exit `classify`, so pages exit inside the batch.

A failing batch is retried page by page; a page that still fails comes back as a
`PagePrediction` with `error_type` set, which `ClassifyPages` sends to the dead letters. A batch
that fails outside the model (RunInference's own exception handling) is sent there page by page.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import (
    KeyedModelHandler,
    ModelHandler,
    PredictionResult,
    RunInference,
)

from docexit.models.policies import threshold_policy_names
from docexit.models.policies.parsing import policy_threshold, resolve_policy  # noqa: F401
from docexit.transforms.dead_letters import DEAD_LETTERS, METRICS_NAMESPACE, page_dead_letter
from docexit.transforms.elements import PagePrediction
from docexit.transforms.page_record import PageExit, PageRecord
from docexit.transforms.records import PageFeatures
from docexit.transforms.rows import ENCODER_STAGE, page_row

LOG = logging.getLogger(__name__)

# Exit policies parse their own options (models/policies/parsing.py); `resolve_policy` and
# `POLICY_CHOICES` stay importable from here for pipeline/.
POLICY_CHOICES = threshold_policy_names()

# Beam distribution (namespace `docexit`): pages in each batch RunInference hands the engine.
ENGINE_BATCH_PAGES = "engine_batch_pages"


def read_model_config(model_dir: str | Path) -> dict[str, Any]:
    """The checkpoint's `config.json` as a dict (no torch, no weights)."""
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"no model checkpoint at {model_dir} (missing {path.name})")
    return json.loads(path.read_text())


def model_id(model_dir: str | Path) -> str:
    """A stable id for a checkpoint: folder name + short sha256 of its config and weights."""
    import hashlib

    folder = Path(model_dir)
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors"):
        path = folder / name
        if path.is_file():
            with path.open("rb") as stream:
                for chunk in iter(lambda s=stream: s.read(1 << 20), b""):
                    digest.update(chunk)
    return f"{folder.resolve().name}@{digest.hexdigest()[:12]}"


def default_step_size(device: str) -> int:
    """Pages per engine layer step: small on CPU (per-page cost does not fall with batch size
    there), large on GPU (`docexit bench engine` measures both)."""
    return 32 if str(device).startswith("cuda") else 8


class EarlyExitRunner:
    """What `load_model` returns: an `EarlyExitModel` in eval mode, its device and policy."""

    def __init__(
        self, model: Any, policy_dict: Mapping[str, Any], device: str, step_size: int | None = None
    ) -> None:
        from docexit.models.engine import EarlyExitEngine
        from docexit.models.policies import policy_from_dict

        self.model = model
        self.device = device
        self.policy_dict = dict(policy_dict)
        self.policy = policy_from_dict(self.policy_dict)
        # The engine works through the whole RunInference batch with its own step size:
        # pages leave at their exit and waiting pages refill each layer step.
        self.engine = EarlyExitEngine(
            model, self.policy, step_size=step_size or default_step_size(device), device=device
        )

    def classify(self, features: Sequence[PageFeatures]) -> list[PagePrediction]:
        """Early-exit classification of a batch; a failing batch is retried page by page."""
        start = time.perf_counter()
        try:
            predictions = self._classify_batch(features)
        except Exception:  # noqa: BLE001 - isolate the page(s) that fail
            LOG.warning(
                "batch of %d pages failed; retrying page by page", len(features), exc_info=True
            )
            return [self._classify_one(page) for page in features]
        share_ms = (time.perf_counter() - start) * 1000.0 / max(len(features), 1)
        return [_with_time(p, share_ms) for p in predictions]

    def _classify_one(self, page: PageFeatures) -> PagePrediction:
        start = time.perf_counter()
        try:
            (prediction,) = self._classify_batch([page])
        except Exception as error:  # noqa: BLE001
            return PagePrediction(error_type=type(error).__name__, error_message=str(error))
        return _with_time(prediction, (time.perf_counter() - start) * 1000.0)

    def _classify_batch(self, features: Sequence[PageFeatures]) -> list[PagePrediction]:
        by_position = self.engine.classify(enumerate(features))  # pages exit inside the batch
        result = [by_position[i] for i in range(len(features))]
        return _to_page_predictions(result, len(features))


def _with_time(prediction: PagePrediction, inference_ms: float) -> PagePrediction:
    return replace(prediction, inference_ms=inference_ms)


def _to_page_predictions(predictions: Sequence[Any], batch_size: int) -> list[PagePrediction]:
    """`classify`'s `Prediction`s (batch order) -> picklable `PagePrediction`s."""
    if len(predictions) != batch_size:
        raise RuntimeError(f"classify returned {len(predictions)} results for {batch_size} pages")
    return [
        PagePrediction(
            label_id=int(p.label_id),
            confidence=float(p.confidence),
            exit_index=int(p.exit_index),
            exit_layer=int(p.exit_layer),
        )
        if math.isfinite(p.confidence)
        else PagePrediction(
            error_type="NonFiniteOutput",
            error_message=f"the model gave confidence {p.confidence} at exit {p.exit_index}",
        )
        for p in predictions
    ]


class EarlyExitModelHandler(ModelHandler[PageRecord, PagePrediction, EarlyExitRunner]):
    """Beam `ModelHandler` for `EarlyExitModel` checkpoints; examples are featurized
    `PageRecord`s."""

    def __init__(
        self,
        model_dir: str,
        policy: Mapping[str, Any],
        *,
        device: str = "auto",
        min_batch_size: int = 1,
        max_batch_size: int = 32,
        torch_threads: int | None = None,
        engine_step_size: int | None = None,
        large_model: bool = False,
        model_copies: int | None = None,
    ) -> None:
        # NOTE Beam 2.77: passing max_batch_weight crashes at construction. BatchElements'
        # adaptive sizing starts at min_batch_size and never goes below it but for the last
        # batch of a bundle (apache_beam.transforms.util._BatchSizeEstimator).
        super().__init__(
            min_batch_size=min_batch_size,
            max_batch_size=max_batch_size,
            large_model=large_model,
            model_copies=model_copies,
        )
        self._model_dir = str(model_dir)
        self._policy = dict(policy)
        self._device = device
        self._torch_threads = torch_threads
        self._engine_step_size = engine_step_size
        # Pages per batch the engine gets: refill needs waiting pages in the same batch.
        self._batch_pages = Metrics.distribution(METRICS_NAMESPACE, ENGINE_BATCH_PAGES)

    def load_model(self) -> EarlyExitRunner:
        import torch

        from docexit.models.checkpoint import load_checkpoint
        from docexit.models.device import resolve_device, worker_threads

        device = str(resolve_device(self._device))
        threads = worker_threads(self._torch_threads, device)
        if threads:
            torch.set_num_threads(threads)
        start = time.perf_counter()
        model = load_checkpoint(self._model_dir, device=device)
        LOG.info("loaded %s on %s in %.1fs", self._model_dir, device, time.perf_counter() - start)
        return EarlyExitRunner(model, self._policy, device, self._engine_step_size)

    def run_inference(
        self,
        batch: Sequence[PageRecord],
        model: EarlyExitRunner,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[PredictionResult]:
        self._batch_pages.update(len(batch))
        predictions = model.classify([_features(page) for page in batch])
        return [
            PredictionResult(example=page, inference=prediction, model_id=self._model_dir)
            for page, prediction in zip(batch, predictions, strict=True)
        ]

    def get_num_bytes(self, batch: Sequence[PageRecord]) -> int:
        # The default pickles the whole batch just to count it.
        return sum(
            features.input_ids.nbytes + features.bbox.nbytes + features.pixel_values.nbytes
            for features in map(_features, batch)
        )

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE


def _features(page: PageRecord) -> PageFeatures:
    if page.features is None:
        raise ValueError(f"page {page.key()} reached the model without features")
    return page.features


class _ToRowFn(beam.DoFn):
    """(key, PredictionResult) -> output row dict; per-page model failures -> dead letters."""

    def __init__(self, meta: Mapping[str, Any]) -> None:
        self._meta = dict(meta)
        self._pages_out = Metrics.counter(METRICS_NAMESPACE, "pages_out")
        self._exit_layer = Metrics.distribution(METRICS_NAMESPACE, "exit_layer")
        self._inference_ms = Metrics.distribution(METRICS_NAMESPACE, "inference_ms")

    def process(self, element: tuple[str, PredictionResult]) -> Iterator[Any]:
        _, result = element
        page: PageRecord = result.example
        prediction: PagePrediction = result.inference
        if prediction.failed:
            error = RuntimeError(f"{prediction.error_type}: {prediction.error_message}")
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, page_dead_letter("inference", page, error))
            return
        self._pages_out.inc()
        self._exit_layer.update(prediction.exit_layer)
        self._inference_ms.update(round(prediction.inference_ms))
        yield page_row(page.with_exit(self._page_exit(prediction)), self._meta)

    def _page_exit(self, prediction: PagePrediction) -> PageExit:
        return PageExit(
            label_id=prediction.label_id,
            confidence=prediction.confidence,
            exit_stage=ENCODER_STAGE,
            exit_layer=prediction.exit_layer,
            exit_index=prediction.exit_index,
            exit_policy=self._meta["policy_name"],
            exit_threshold=policy_threshold(self._meta["policy"], prediction.exit_index),
            inference_ms=prediction.inference_ms,
        )


class _FailedBatchError(RuntimeError):
    """Carries the type name and message of an exception RunInference caught for a batch."""


def _failed_batch_to_dead_letters(failure: tuple[Sequence[Any], tuple[Any, ...]]) -> Iterator[Any]:
    """RunInference's (batch, (exc type, repr, traceback)) -> one dead letter per page."""
    batch, (error_type, error_repr, _traceback) = failure
    for _, page in batch:
        letter = page_dead_letter("inference", page, _FailedBatchError(error_repr))
        yield replace(letter, error_type=getattr(error_type, "__name__", str(error_type)))


class ClassifyPages(beam.PTransform):
    """(key, featurized PageRecord) -> (output row dicts, DeadLetters), through `RunInference`."""

    def __init__(self, handler: EarlyExitModelHandler, meta: Mapping[str, Any]) -> None:
        super().__init__()
        self._handler = handler
        self._meta = dict(meta)

    def expand(self, pages: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        results, failed = (
            pages
            | "RunInference"
            >> RunInference(KeyedModelHandler(self._handler)).with_exception_handling()
        )
        rows = results | "ToRows" >> beam.ParDo(_ToRowFn(self._meta)).with_outputs(
            DEAD_LETTERS, main="rows"
        )
        failed_batches = failed.failed_inferences | "FailedBatches" >> beam.FlatMap(
            _failed_batch_to_dead_letters
        )
        dead = (rows[DEAD_LETTERS], failed_batches) | "InferenceDeadLetters" >> beam.Flatten()
        return rows.rows, dead
