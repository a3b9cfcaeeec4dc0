"""The output row of one classified page (`sinks.ROWS_SCHEMA`), from either exit stage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

VISION_STAGE = "vision"  # the image-only exit before OCR
ENCODER_STAGE = "encoder"  # an exit of the multimodal model, after OCR
VISION_EXIT_LAYER = -1  # `exit_layer` and `exit_index` of a page that left before OCR


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
) -> dict[str, Any]:
    """One output row; `meta` is the job's model description (`pipeline.build.JobSpec.meta`)."""
    return {
        "source": source,
        "page": page,
        "content_hash": content_hash,
        "label": meta["label_names"][label_id],
        "label_id": label_id,
        "confidence": confidence,
        "review": confidence < meta["min_confidence"],
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
