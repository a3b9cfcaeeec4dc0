"""Labelled archive text as text-only training pages: an auxiliary text objective.

An archive document with a label but no image or boxes (Tobacco-3482's OCR text, say) becomes a
page the trainer can read: a window of its words, laid out line by line as a typed page, and a
blank page image. Mixed into fine-tuning, it teaches every exit the archive's real words and
their OCR noise at the cost of no rendering or OCR; the image carries nothing, so only the text
and layout path learns from it.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
from PIL import Image

from docexit.corpus.archive_text import ArchiveText
from docexit.corpus.store import CORPUS_SCHEMA, STORED_IMAGE_SIDE, encode_page_image
from docexit.transforms.records import LABELS

PAGE_WORDS = 256  # words per text page: more than the model's text window reads
MARGIN = 80  # 0-1000 page units left, right and top
LINE_HEIGHT = 24
CHAR_WIDTH = 9  # a typed character, in 0-1000 page units
SPACE = 9
TEXT_PAGE_SOURCE = "archive-text"


def typed_boxes(words: list[str]) -> list[tuple[int, int, int, int]]:
    """One 0-1000 box per word, left to right and line by line within the margins, as a
    typewritten page holds them (lines past the foot of the page stay on its last line)."""
    boxes, x, y = [], MARGIN, MARGIN
    right, bottom = 1000 - MARGIN, 1000 - LINE_HEIGHT
    for word in words:
        width = min(CHAR_WIDTH * len(word), right - MARGIN)
        if x + width > right:
            x, y = MARGIN, min(y + LINE_HEIGHT, bottom)
        boxes.append((x, y, x + width, y + LINE_HEIGHT - 6))
        x += width + SPACE
    return boxes


def archive_text_pages(archive: ArchiveText, per_class: int, seed: int) -> pa.Table:
    """Up to `per_class` documents of each class `archive` covers, drawn without replacement
    (seeded), each as one text page in `CORPUS_SCHEMA`: a random window of `PAGE_WORDS` of its
    words, typed boxes, a blank image. Equal counts per class, so the classes with many
    documents do not swamp the others."""
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    rng = np.random.default_rng(seed)
    blank = encode_page_image(Image.new("L", (STORED_IMAGE_SIDE, STORED_IMAGE_SIDE), 255))
    rows = []
    for label in sorted(archive.classes):
        members = rng.permutation(np.flatnonzero(archive.labels == label))[:per_class]
        for index in members.tolist():
            words = archive.texts[index].split()
            start = int(rng.integers(max(1, len(words) - PAGE_WORDS + 1)))
            window = words[start : start + PAGE_WORDS]
            rows.append(
                {
                    "source": f"{TEXT_PAGE_SOURCE}/{index}",
                    "page": 0,
                    "label": LABELS[label],
                    "label_id": label,
                    "split": "train",
                    "content_hash": hashlib.sha256(" ".join(window).encode()).hexdigest(),
                    "width": 1000,
                    "height": 1000,
                    "words": window,
                    "boxes": typed_boxes(window),
                    "ocr_ms": 0.0,
                    "image_png": blank,
                }
            )
    return pa.Table.from_pylist(rows, schema=CORPUS_SCHEMA)
