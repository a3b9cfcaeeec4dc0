"""The output row of one classified page: `page_row(record, meta)`, the one function from a
`PageRecord` to a row of `sinks.ROWS_SCHEMA`, for pages of either exit stage.

A column's value comes, by its name, from the record (`page_record.column_names`), from the
record's `PageExit`, or from the job (`JOB_COLUMNS`: the model's label names, layers, id and
`--min-confidence`). With `--keep-ocr` (`meta["keep_ocr"]`) the schema also has the OCR columns
(`OCR_FIELDS`, added by `rows_schema`): the page's words and their 0-1000 boxes as fed to the
model, empty lists for pages that left before OCR."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa

from docexit.transforms.page_record import PageExit, PageRecord, column_names
from docexit.transforms.sinks import ROWS_SCHEMA

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

JobColumn = Callable[[PageExit, Mapping[str, Any]], Any]
JOB_COLUMNS: dict[str, JobColumn] = {  # columns from the job's `meta` (`JobSpec.meta`)
    "label": lambda exit_, meta: meta["label_names"][exit_.label_id],
    "review": lambda exit_, meta: exit_.confidence < meta.get("min_confidence", 0.0),
    "num_layers": lambda exit_, meta: meta["num_layers"],
    "model_id": lambda exit_, meta: meta["model_id"],
}


def rows_schema(schema: pa.Schema, keep_ocr: bool) -> pa.Schema:
    """The row schema, with the OCR columns under `--keep-ocr`."""
    for field in OCR_FIELDS if keep_ocr else ():
        schema = schema.append(field)
    return schema


@functools.cache
def job_rows_schema(keep_ocr: bool) -> pa.Schema:
    """`ROWS_SCHEMA`, with the OCR columns under `--keep-ocr`."""
    return rows_schema(ROWS_SCHEMA, keep_ocr)


def rows_metadata(metadata: Mapping[str, Any], keep_ocr: bool) -> dict[str, Any]:
    """The rows' schema metadata: the job's, plus what the OCR columns hold under `--keep-ocr`."""
    return {**metadata, **({"docexit.ocr_columns": OCR_COLUMNS_DOC} if keep_ocr else {})}


def page_row(
    record: PageRecord, meta: Mapping[str, Any], schema: pa.Schema | None = None
) -> dict[str, Any]:
    """The output row of a classified page (`record.exit` set): one value per column of
    `schema` (default: the job's, `job_rows_schema(meta["keep_ocr"])`). `meta` is the job's
    model description (`pipeline.build.JobSpec.meta`)."""
    if record.exit is None:
        raise ValueError(f"page {record.key()} has no exit yet: only classified pages are rows")
    schema = schema if schema is not None else job_rows_schema(bool(meta.get("keep_ocr")))
    return {name: column_value(record, meta, name) for name in schema.names}


def column_value(record: PageRecord, meta: Mapping[str, Any], name: str) -> Any:
    """Column `name` of a classified page's row, as a plain Python value (tuples -> lists)."""
    assert record.exit is not None
    if name in JOB_COLUMNS:
        return JOB_COLUMNS[name](record.exit, meta)
    for part in (record, record.exit):
        if name in column_names(type(part)):
            return _plain(getattr(part, name))
    raise KeyError(
        f"no page record field, exit field or job column gives output column {name!r}: add a "
        "field of that name to PageRecord or PageExit (transforms/page_record.py)"
    )


def _plain(value: Any) -> Any:
    """Tuples (words, boxes) as lists, recursively, as Arrow list columns take them."""
    return [_plain(v) for v in value] if isinstance(value, tuple) else value
