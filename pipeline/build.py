"""Pipeline construction: resolve the job's settings, then wire the named Beam steps.

match -> skip done files (join with earlier manifests) -> reshuffle -> read+decode -> reshuffle
pages -> vision stage -> OCR -> featurize -> RunInference -> rows
                \\-> confident pages: rows (no OCR) ------------/
every stage's failures -> dead letters; read files -> manifest; then `CommitRun` puts rows,
dead letters and manifest in the output folder and writes `_SUCCESS` (`transforms/layout.py`).
"""

from __future__ import annotations

import datetime
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from docexit.pipeline import defaults
from docexit.pipeline.options import DEFAULT_VISION_BATCH_SIZE, DocexitOptions
from docexit.transforms import counts
from docexit.transforms.dead_letters import DEAD_LETTERS, DeadLetter
from docexit.transforms.dofns import (
    FeaturizeFn,
    OcrFn,
    ReadAndDecodeFn,
    RunStage,
    isolated_ocr_timeout,
    printable_path,
)
from docexit.transforms.existing import (
    MANIFEST_SCHEMA,
    BuildManifest,
    ReadDoneFiles,
    SkipDone,
    fingerprint,
    resolve_manifests,
)
from docexit.transforms.inference import (
    ClassifyPages,
    EarlyExitModelHandler,
    model_id,
    read_model_config,
    resolve_policy,
)
from docexit.transforms.io import MatchInputs, ReadFiles
from docexit.transforms.layout import DEAD_LETTERS as DEAD_LETTERS_PART
from docexit.transforms.layout import MANIFEST, ROWS, CommitRun, RunLayout
from docexit.transforms.rows import job_rows_schema, rows_metadata
from docexit.transforms.sinks import DEAD_LETTER_SCHEMA, WriteParquet, with_metadata
from docexit.transforms.visual import VisionStage, VisualExitHandler


@dataclass(frozen=True)
class JobSpec:
    """Everything the pipeline needs, resolved from `DocexitOptions` and the checkpoint."""

    inputs: list[str]  # patterns or paths
    output: str  # the run's output folder (transforms/layout.py)
    model_dir: str
    policy: dict[str, Any]  # the exit policy to run (`ExitPolicy.to_dict()` form)
    meta: dict[str, Any]  # model id, labels, layers, policy: for rows and Parquet metadata
    num_shards: int = 0  # files per output folder; 0: the runner chooses
    run_id: str = ""
    decode_kwargs: dict[str, Any] = field(default_factory=dict)
    ocr_config: dict[str, Any] = field(default_factory=dict)
    featurizer_kwargs: dict[str, Any] = field(default_factory=dict)
    handler_kwargs: dict[str, Any] = field(default_factory=dict)
    progress_every: int = 25
    skip_existing: list[str] | None = None  # earlier manifest files; None: not incremental
    isolate_native_crashes: bool = False  # decode and OCR in a child process (see RunStage)
    visual_threshold: float | None = None  # pages this confident from the image skip OCR
    vision_batch_size: int = DEFAULT_VISION_BATCH_SIZE  # pages per image-CNN batch

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.output, self.run_id)


def new_run_id() -> str:
    """UTC time stamp + random suffix, e.g. 20260131T020000Z-1a2b3c4d."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{uuid.uuid4().hex[:8]}"


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
        "min_confidence": float(opts.min_confidence),
        "keep_ocr": bool(opts.keep_ocr),
    }
    check_numbers(opts)
    return JobSpec(
        inputs=inputs,
        output=opts.output.rstrip("/"),
        model_dir=model_dir,
        policy=policy,
        meta=meta,
        num_shards=opts.num_shards,
        run_id=new_run_id(),
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
            resolve_manifests(opts.skip_existing, opts.output.rstrip("/"))
            if opts.skip_existing
            else None
        ),
        isolate_native_crashes=opts.isolate_native_crashes,
        visual_threshold=visual_threshold(config, opts.force_ocr, opts.visual_threshold),
        vision_batch_size=opts.vision_batch_size,
    )


def check_numbers(opts: DocexitOptions) -> None:
    """Numeric options out of range are a usage error."""
    if not 0.0 <= opts.min_confidence <= 1.0:
        raise ValueError(f"--min-confidence must be in [0, 1], got {opts.min_confidence}")
    if opts.num_shards < 0:
        raise ValueError("--num-shards must be >= 0 (0: the runner chooses)")
    sizes = {
        "--batch-size": opts.batch_size,
        "--min-batch-size": opts.min_batch_size,
        "--vision-batch-size": opts.vision_batch_size,
        "--engine-step-size": 1 if opts.engine_step_size is None else opts.engine_step_size,
    }
    for name, size in sizes.items():
        if size < 1:
            raise ValueError(f"{name} must be >= 1, got {size}")


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
        "docexit.min_confidence": meta["min_confidence"],  # review = confidence below it
        "docexit.visual_threshold": spec.visual_threshold,  # None: every page was OCRed
        "docexit.ocr_config": json.dumps(spec.ocr_config, sort_keys=True),  # lang, psm, min_dpi...
        "docexit.run_id": spec.run_id,
    }


class ClassifiedPages(NamedTuple):
    rows: beam.PCollection  # output row dicts (sinks.ROWS_SCHEMA)
    dead_letters: beam.PCollection  # DeadLetter
    files: beam.PCollection  # (source, fingerprint) of each file read (not skipped)
    hashes: beam.PCollection  # (source, content hash), once per decoded page


def _source_of(metadata: Any) -> str:
    return printable_path(metadata.path)


def _source_and_fingerprint(metadata: Any) -> tuple[str, tuple[int, float | None]]:
    return printable_path(metadata.path), fingerprint(metadata)


def _source_and_hash(page: Any) -> tuple[str, str]:
    return page.source, page.content_hash


class ClassifyDocuments(beam.PTransform):
    """PBegin -> `ClassifiedPages`: every matched page ends in exactly one of rows and dead
    letters; files earlier runs finished (`spec.skip_existing`) are left out unread."""

    def __init__(self, spec: JobSpec) -> None:
        super().__init__()
        self._spec = spec

    def expand(self, pbegin: beam.pvalue.PBegin) -> ClassifiedPages:
        spec = self._spec
        files, match_failures = pbegin | "MatchInputs" >> MatchInputs(spec.inputs)
        if spec.skip_existing is not None:
            done = pbegin | "ReadDoneFiles" >> ReadDoneFiles(spec.skip_existing)
            files = (files, done) | "SkipDone" >> SkipDone(_source_of)
        isolate = spec.isolate_native_crashes
        pages = (
            files
            | "ReadFiles" >> ReadFiles()
            | "ReadAndDecode"
            >> RunStage(ReadAndDecodeFn(**spec.decode_kwargs), "decode", isolate=isolate)
        )
        # The pages of a multi-page file spread over workers, not OCRed on one core.
        to_ocr = pages.main | "ReshufflePages" >> beam.Reshuffle()
        rows_before_ocr = []
        if spec.visual_threshold is not None:  # confident pages leave before OCR
            visual_handler = VisualExitHandler(
                spec.model_dir,
                spec.visual_threshold,
                max_batch_size=spec.vision_batch_size,
                torch_threads=spec.handler_kwargs["torch_threads"],
            )
            vision = to_ocr | "VisionStage" >> VisionStage(
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
        read = files | "FileFingerprints" >> beam.Map(_source_and_fingerprint)
        hashes = pages.main | "PageHashes" >> beam.Map(_source_and_hash)
        return ClassifiedPages(rows, dead_letters, read, hashes)


def _dead_letter_row(letter: DeadLetter) -> dict[str, Any]:
    return letter.to_row()


def _source_once(row: dict[str, Any]) -> tuple[str, int]:
    return row["source"], 1


def build_pipeline(
    options: PipelineOptions, spec: JobSpec, pipeline: beam.Pipeline | None = None
) -> beam.Pipeline:
    """The whole job on `pipeline` (a new one from `options` if None); not run."""
    p = pipeline if pipeline is not None else beam.Pipeline(options=options)
    classified = p | "ClassifyDocuments" >> ClassifyDocuments(spec)
    metadata = parquet_metadata(spec)
    layout = spec.layout
    keep_ocr = bool(spec.meta.get("keep_ocr"))
    rows_schema_ = with_metadata(job_rows_schema(keep_ocr), rows_metadata(metadata, keep_ocr))
    dead_rows = classified.dead_letters | "DeadLetterRows" >> beam.Map(_dead_letter_row)
    manifest = {
        "file": classified.files,
        "hash": classified.hashes,
        "dead": dead_rows | "DeadLettersBySource" >> beam.Map(_source_once),
    } | "Manifest" >> BuildManifest(spec.run_id)
    outputs = {
        ROWS: (classified.rows, rows_schema_, spec.num_shards, counts.count_row),
        DEAD_LETTERS_PART: (
            dead_rows,
            with_metadata(DEAD_LETTER_SCHEMA, metadata),
            0,
            counts.count_dead_letter,
        ),
        MANIFEST: (
            manifest,
            with_metadata(MANIFEST_SCHEMA, metadata),
            0,
            counts.count_manifest_row,
        ),
    }
    staged, tallies = {}, []
    for part, (rows, schema, num_shards, count) in outputs.items():
        staged[part] = rows | f"Write_{part}" >> WriteParquet(
            layout.staging_prefix(part), schema, num_shards=num_shards
        )
        tallies.append(rows | f"Count_{part}" >> beam.Map(count))
    staged["counts"] = tuple(tallies) | "AllCounts" >> beam.Flatten()
    _ = staged | "CommitRun" >> CommitRun(layout)
    return p
