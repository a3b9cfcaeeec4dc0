"""The on-disk corpus: one Parquet file per split, one row per page (OCR words, boxes, image).

Kept apart from the builder so that readers (training, evaluation) never import the OCR engine.
"""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

SPLITS: tuple[str, ...] = ("train", "validation", "test")
STORED_IMAGE_SIDE = 224  # pages are stored at LayoutLMv3's input size

CORPUS_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string()),
        pa.field("page", pa.int32()),
        pa.field("label", pa.string()),
        pa.field("label_id", pa.int32()),
        pa.field("split", pa.string()),
        pa.field("content_hash", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("words", pa.list_(pa.string())),
        pa.field("boxes", pa.list_(pa.list_(pa.int16(), 4))),
        pa.field("ocr_ms", pa.float32()),
        pa.field("image_png", pa.binary()),  # the page at 224x224, greyscale PNG
    ]
)


def load_split(corpus_dir: Path, split: str) -> pa.Table:
    """One split of a built corpus."""
    path = Path(corpus_dir) / f"{split}.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: build it with `docexit corpus`")
    return pq.read_table(path, schema=CORPUS_SCHEMA)


def first_or_spread(table: pa.Table, limit: int | None, spread: bool = False) -> pa.Table:
    """At most `limit` rows: the first ones, or (`spread`) evenly spaced over the table, in
    order. Splits are written class by class, so a training cap must spread or it keeps a few
    classes only."""
    if limit is None or limit >= table.num_rows:
        return table
    if not spread:
        return table.slice(0, limit)
    step = table.num_rows / limit
    return table.take([int(i * step) for i in range(limit)])


def encode_page_image(image: Image.Image) -> bytes:
    """A page as stored in the corpus: greyscale, STORED_IMAGE_SIDE square, PNG."""
    small = image.convert("L").resize(
        (STORED_IMAGE_SIDE, STORED_IMAGE_SIDE), Image.Resampling.BILINEAR
    )
    buffer = io.BytesIO()
    small.save(buffer, format="PNG")
    return buffer.getvalue()
