"""Values the stages compute for a page (docs/design.md, "Data contracts"): its OCR and its
model features; the page itself travels as `page_record.PageRecord`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1), normalised to 0-1000

LABELS: tuple[str, ...] = (
    "advertisement",
    "budget",
    "email",
    "file_folder",
    "form",
    "handwritten",
    "invoice",
    "letter",
    "memo",
    "news_article",
    "presentation",
    "questionnaire",
    "resume",
    "scientific_publication",
    "scientific_report",
    "specification",
)
"""RVL-CDIP's 16 classes in alphabetical order; a label id is an index into this tuple."""


@dataclass(frozen=True)
class OcrResult:
    """Words of one page with their boxes normalised to 0-1000."""

    words: list[str]
    boxes: list[Box]
    seconds: float  # wall-clock time spent in the OCR engine
    # CPU time of that call: the calling thread's (tesserocr), or the tesseract child
    # process's (pytesseract; approximate when several threads run tesseract at once)
    cpu_seconds: float = 0.0


@dataclass(frozen=True)
class PageFeatures:
    """Model inputs for one page, unpadded (batching pads)."""

    input_ids: np.ndarray  # (T,) int64, WordPiece ids with [CLS] ... [SEP]
    bbox: np.ndarray  # (T, 4) int64, 0-1000, one box per token
    pixel_values: np.ndarray  # (3, 224, 224) float32, normalised
    text: np.ndarray | None = None  # (2, C) float32: the model's text prior on the words, if any

    @property
    def num_tokens(self) -> int:
        return int(self.input_ids.shape[0])
