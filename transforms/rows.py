"""The output row of one classified page (`sinks.ROWS_SCHEMA`), from either exit stage.

With `--keep-ocr` (`meta["keep_ocr"]`) every row also has the OCR columns (`OCR_FIELDS`, added
to the schema by `rows_schema`): the page's words and their 0-1000 boxes as fed to the model,
empty lists for pages that left before OCR."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

VISION_STAGE = "vision"  # the image-only exit before OCR
ENCODER_STAGE = "encoder"  # an exit of the multimodal model, after OCR
VISION_EXIT_LAYER = -1  # `exit_layer` and `exit_index` of a page that left before OCR
OCR_FIELDS = (
    pa.field("words", pa.list_(pa.string()), nullable=False),  # OCR words, reading order
    pa.field("boxes", pa.list_(pa.list_(pa.int32(), 4)), nullable=False),  # one per word
)
OCR_COLUMNS_DOC = (
    "words: the page's OCR words (list of strings); boxes: one (x0, y0, x1, y1) box per word, "
    "ints in the 0-1000 page frame, as fed to the model; both empty when OCR was skipped "
    "(exit_stage vision)"
)


def rows_schema(schema: pa.Schema, keep_ocr: bool) -> pa.Schema:
    """The row schema, with the OCR columns under `--keep-ocr`."""
    for field in OCR_FIELDS if keep_ocr else ():
        schema = schema.append(field)
    return schema


def rows_metadata(metadata: Mapping[str, Any], keep_ocr: bool) -> dict[str, Any]:
    """The rows' schema metadata: the job's, plus what the OCR columns hold under `--keep-ocr`."""
    return {**metadata, **({"docexit.ocr_columns": OCR_COLUMNS_DOC} if keep_ocr else {})}


def page_row(
    meta: Mapping[str, Any],
    *,
    source: str,
    page: int,
    content_hash: str,
    label_id: int,
    confidence: float,
    exit_stage: str,
    exit_layer: int,
    exit_index: int,
    exit_policy: str,
    exit_threshold: float | None,
    word_count: int,
    token_count: int,
    ocr_ms: float,
    inference_ms: float,
    words: Sequence[str] = (),
    boxes: Sequence[Sequence[int]] = (),
) -> dict[str, Any]:
    """One output row; `meta` is the job's model description (`pipeline.build.JobSpec.meta`).
    `words` and `boxes` become columns when `meta["keep_ocr"]` is set."""
    row = {
        "source": source,
        "page": page,
        "content_hash": content_hash,
        "label": meta["label_names"][label_id],
        "label_id": label_id,
        "confidence": confidence,
        "review": confidence < meta.get("min_confidence", 0.0),
        "exit_stage": exit_stage,
        "exit_layer": exit_layer,
        "exit_index": exit_index,
        "num_layers": meta["num_layers"],
        "exit_policy": exit_policy,
        "exit_threshold": exit_threshold,
        "ocr_ran": exit_stage != VISION_STAGE,
        "word_count": word_count,
        "token_count": token_count,
        "ocr_ms": ocr_ms,
        "inference_ms": inference_ms,
        "model_id": meta["model_id"],
    }
    if meta.get("keep_ocr"):
        row["words"] = [str(w) for w in words]
        row["boxes"] = [[int(v) for v in box] for box in boxes]
    return row
