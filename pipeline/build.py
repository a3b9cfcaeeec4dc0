"""Pipeline construction: resolve the job's settings, then wire the named Beam steps.

match -> reshuffle -> read+decode -> vision stage -> OCR -> featurize -> RunInference -> rows
                                     \\-> confident pages: rows (no OCR) -----------------/
  \\________\\____________\\_______________________\\_________\\____________/-> dead letters
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from docexit.pipeline import defaults
from docexit.pipeline.options import DocexitOptions
from docexit.transforms.dead_letters import DEAD_LETTERS, DeadLetter
from docexit.transforms.dofns import (
    FeaturizeFn,
    OcrFn,
    ReadAndDecodeFn,
    RunStage,
    isolated_ocr_timeout,
)
from docexit.transforms.elements import page_key
from docexit.transforms.existing import EarlyRun, ReadExistingHashes, resolve_existing_outputs
from docexit.transforms.inference import (
    ClassifyPages,
    EarlyExitModelHandler,
    model_id,
    read_model_config,
    resolve_policy,
)
from docexit.transforms.io import MatchInputs
from docexit.transforms.rows import rows_metadata, rows_schema
from docexit.transforms.sinks import (
    DEAD_LETTER_SCHEMA,
    ROWS_SCHEMA,
    WriteParquetShards,
    dead_letter_sort_key,
    row_sort_key,
    shard_names,
    with_metadata,
)
from docexit.transforms.visual import VISION_BATCH, VisionStage, VisualExitHandler


@dataclass(frozen=True)
class JobSpec:
    """Everything the pipeline needs, resolved from `DocexitOptions` and the checkpoint."""

    inputs: list[str]  # patterns or paths
    output: str  # output prefix
    model_dir: str
    policy: dict[str, Any]  # the exit policy to run (`ExitPolicy.to_dict()` form)
    meta: dict[str, Any]  # model id, labels, layers, policy: for rows and Parquet metadata
    num_shards: int = 1
    decode_kwargs: dict[str, Any] = field(default_factory=dict)
    ocr_config: dict[str, Any] = field(default_factory=dict)
    featurizer_kwargs: dict[str, Any] = field(default_factory=dict)
    handler_kwargs: dict[str, Any] = field(default_factory=dict)
    progress_every: int = 25
    skip_existing: list[EarlyRun] | None = None  # None: not incremental
    isolate_native_crashes: bool = False  # decode and OCR in a child process (see RunStage)
    visual_threshold: float | None = None  # pages this confident from the image skip OCR

    @property
    def row_files(self) -> list[str]:
        return shard_names(self.output, self.num_shards)

    @property
    def dead_letter_files(self) -> list[str]:
        return shard_names(f"{self.output}-dead-letters", 1)


def resolve_spec(options: PipelineOptions) -> JobSpec:
    """Apply defaults (sample pages, bundled model) and read the checkpoint's config."""
    opts = options.view_as(DocexitOptions)
    model_dir = str(opts.model) if opts.model else str(defaults.bundled_model_dir())
    inputs = list(opts.input) if opts.input else defaults.sample_inputs()
    config = read_model_config(model_dir)
    exits = list(config.get("exits") or [])
    num_layers = int((config.get("backbone") or {}).get("num_hidden_layers", 0))
    policy = resolve_policy(config.get("policy"), len(exits), opts.policy, opts.threshold)
    meta = {
        "model_id": model_id(model_dir),
        "label_names": list(config["label_names"]),
        "num_layers": num_layers,
        "exit_layers": [int(e["layer"]) for e in exits],
        "exits": exits,
        "temperatures": config.get("temperatures"),
        "confidence_maps": config.get("confidence_maps"),
        "policy": policy,
        "policy_name": str(policy["name"]),
        "keep_ocr": bool(opts.keep_ocr),
    }
    if opts.num_shards < 1 or opts.batch_size < 1 or opts.min_batch_size < 1:
        raise ValueError("--num-shards, --batch-size and --min-batch-size must be >= 1")
    return JobSpec(
        inputs=inputs,
        output=opts.output,
        model_dir=model_dir,
        policy=policy,
        meta=meta,
        num_shards=opts.num_shards,
        decode_kwargs={"dpi": opts.dpi, "max_pixels": opts.max_pixels, "max_pages": opts.max_pages},
        ocr_config={
            "lang": opts.ocr_lang,
            "psm": opts.ocr_psm,
            "max_side": opts.ocr_max_side,
            "min_dpi": opts.ocr_min_dpi,
            "backend": opts.ocr_backend,
            "timeout": opts.ocr_timeout or None,
        },
        featurizer_kwargs=featurizer_kwargs(config, opts.max_tokens, model_dir),
        handler_kwargs={
            "device": opts.device,
            "min_batch_size": min(opts.min_batch_size, opts.batch_size),
            "max_batch_size": opts.batch_size,
            "torch_threads": opts.torch_threads,
            "engine_step_size": opts.engine_step_size,
            "model_copies": opts.model_copies,
        },
        progress_every=opts.progress_every,
        skip_existing=(
            resolve_existing_outputs(opts.skip_existing, opts.output)
            if opts.skip_existing
            else None
        ),
        isolate_native_crashes=opts.isolate_native_crashes,
        visual_threshold=visual_threshold(config, opts.force_ocr, opts.visual_threshold),
    )


def visual_threshold(
    config: dict[str, Any], force_ocr: bool, override: float | None
) -> float | None:
    """The vision stage's threshold, or None when every page is OCRed: `--force-ocr`, a model
    without a visual exit, or one whose threshold was never set."""
    visual = config.get("visual_exit")
    if force_ocr or visual is None:
        return None
    threshold = override if override is not None else visual.get("threshold")
    if threshold is not None and not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"--visual-threshold must be in (0, 1], got {threshold}")
    return None if threshold is None else float(threshold)


def featurizer_kwargs(config: dict[str, Any], max_tokens: int, model_dir: str) -> dict[str, Any]:
    """Featurizer settings that fit the checkpoint: its folder (tokenizer, image processor),
    tokens per page (at most the model's `max_text_tokens`, or what its position table allows)
    and image size."""
    backbone = config.get("backbone") or {}
    limit = config.get("max_text_tokens") or (
        int(backbone.get("max_position_embeddings", 514)) - int(backbone.get("pad_token_id", 0)) - 1
    )
    return {
        "model_dir": model_dir,
        "max_length": min(max_tokens, int(limit)),
        "image_size": int(backbone.get("input_size", 224)),
    }


def parquet_metadata(spec: JobSpec) -> dict[str, Any]:
    """Schema metadata of both outputs: which model, policy and thresholds made them."""
    meta = spec.meta
    return {
        "docexit.model_id": meta["model_id"],
        "docexit.model_dir": spec.model_dir,
        "docexit.policy": json.dumps(spec.policy, sort_keys=True),
        "docexit.exit_layers": meta["exit_layers"],
        "docexit.num_layers": meta["num_layers"],
        "docexit.temperatures": meta["temperatures"],
        "docexit.confidence_maps": meta["confidence_maps"],
        "docexit.label_names": meta["label_names"],
        "docexit.visual_threshold": spec.visual_threshold,  # None: every page was OCRed
        "docexit.ocr_config": json.dumps(spec.ocr_config, sort_keys=True),  # lang, psm, min_dpi...
    }


class ClassifiedPages(NamedTuple):
    rows: beam.PCollection  # output row dicts (sinks.ROWS_SCHEMA)
    dead_letters: beam.PCollection  # DeadLetter


class ClassifyDocuments(beam.PTransform):
    """PBegin -> `ClassifiedPages`: every matched page ends in exactly one of the two."""

    def __init__(self, spec: JobSpec) -> None:
        super().__init__()
        self._spec = spec

    def expand(self, pbegin: beam.pvalue.PBegin) -> ClassifiedPages:
        spec = self._spec
        files, match_failures = pbegin | "MatchInputs" >> MatchInputs(spec.inputs)
        side_inputs = []
        if spec.skip_existing is not None:  # content hash -> True, read by the workers
            existing = pbegin | "ReadExistingHashes" >> ReadExistingHashes(spec.skip_existing)
            side_inputs.append(beam.pvalue.AsDict(existing))
        isolate = spec.isolate_native_crashes
        pages = files | "ReadAndDecode" >> RunStage(
            ReadAndDecodeFn(**spec.decode_kwargs), "decode", *side_inputs, isolate=isolate
        )
        to_ocr, rows_before_ocr = pages.main, []
        if spec.visual_threshold is not None:  # confident pages leave before OCR
            visual_handler = VisualExitHandler(
                spec.model_dir,
                spec.visual_threshold,
                max_batch_size=min(spec.handler_kwargs["max_batch_size"], VISION_BATCH),
                torch_threads=spec.handler_kwargs["torch_threads"],
            )
            vision = pages.main | "VisionStage" >> VisionStage(
                visual_handler, spec.meta, spec.visual_threshold
            )
            to_ocr, rows_before_ocr = vision.to_ocr, [vision.rows]
        records = to_ocr | "OCR" >> RunStage(
            OcrFn(spec.ocr_config, spec.progress_every),
            "ocr",
            isolate=isolate,
            timeout=isolated_ocr_timeout(spec.ocr_config.get("timeout")),
        )
        featurized = records.main | "Featurize" >> beam.ParDo(
            FeaturizeFn(spec.featurizer_kwargs)
        ).with_outputs(DEAD_LETTERS, main="pages")
        handler = EarlyExitModelHandler(spec.model_dir, spec.policy, **spec.handler_kwargs)
        rows, inference_failures = featurized.pages | "Classify" >> ClassifyPages(
            handler, spec.meta
        )
        if rows_before_ocr:
            rows = (*rows_before_ocr, rows) | "AllRows" >> beam.Flatten()
        dead_letters = (
            match_failures,
            pages.dead_letters,
            records.dead_letters,
            featurized[DEAD_LETTERS],
            inference_failures,
        ) | "AllDeadLetters" >> beam.Flatten()
        return ClassifiedPages(rows, dead_letters)


def _row_key(row: dict[str, Any]) -> str:
    return page_key(row["source"], row["page"])


def _dead_letter_key(row: dict[str, Any]) -> str:
    return f"{row['source']}#{row['page']}#{row['stage']}"


def _dead_letter_row(letter: DeadLetter) -> dict[str, Any]:
    return letter.to_row()


def build_pipeline(
    options: PipelineOptions, spec: JobSpec, pipeline: beam.Pipeline | None = None
) -> beam.Pipeline:
    """The whole job on `pipeline` (a new one from `options` if None); not run."""
    p = pipeline if pipeline is not None else beam.Pipeline(options=options)
    classified = p | "ClassifyDocuments" >> ClassifyDocuments(spec)
    metadata = parquet_metadata(spec)
    keep_ocr = bool(spec.meta.get("keep_ocr"))
    _ = classified.rows | "WritePages" >> WriteParquetShards(
        spec.output,
        with_metadata(rows_schema(ROWS_SCHEMA, keep_ocr), rows_metadata(metadata, keep_ocr)),
        num_shards=spec.num_shards,
        key=_row_key,
        sort_key=row_sort_key,
    )
    _ = (
        classified.dead_letters
        | "DeadLetterRows" >> beam.Map(_dead_letter_row)
        | "WriteDeadLetters"
        >> WriteParquetShards(
            f"{spec.output}-dead-letters",
            with_metadata(DEAD_LETTER_SCHEMA, metadata),
            num_shards=1,
            key=_dead_letter_key,
            sort_key=dead_letter_sort_key,
        )
    )
    return p
