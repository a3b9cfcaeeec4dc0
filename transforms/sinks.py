"""Parquet outputs: page rows, dead letters and the manifest, with explicit schemas.

`WriteParquet` is Beam's `WriteToParquet`: rows are converted to Arrow record batches and written
as row groups while they arrive (at most `ROW_GROUP_BYTES` buffered per writer), one file per
bundle or `num_shards` files, through Beam's temporary files and a rename on finalize; it
returns the final file names. The schema, with its metadata, is written into every file.
Where the files go and how a run replaces the previous one: `transforms/layout.py`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import WriteToParquet

ROW_GROUP_BYTES = 16 * 1024 * 1024  # Arrow data buffered per writer before a row group is written
RECORD_BATCH_ROWS = 1000

ROWS_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),  # input file path or URL
        pa.field("page", pa.int32(), nullable=False),  # 0-based page index within the file
        pa.field("content_hash", pa.string(), nullable=False),  # sha256 hex of the file's bytes
        pa.field("label", pa.string(), nullable=False),
        pa.field("label_id", pa.int32(), nullable=False),
        pa.field("confidence", pa.float32(), nullable=False),  # calibrated, at the exit taken
        pa.field("review", pa.bool_(), nullable=False),  # confidence below --min-confidence
        # "vision": the image-only exit before OCR; "encoder": the multimodal model's exits
        pa.field("exit_stage", pa.string(), nullable=False),
        # 1-based encoder layer; 0 = modality exit before the encoder; -1 = vision stage
        pa.field("exit_layer", pa.int32(), nullable=False),
        pa.field("exit_index", pa.int32(), nullable=False),  # into the exits; -1 = vision stage
        pa.field("num_layers", pa.int32(), nullable=False),  # encoder layers of the model
        pa.field("exit_policy", pa.string(), nullable=False),  # policy name, e.g. "max_prob"
        pa.field("exit_threshold", pa.float64()),  # threshold at that exit; null if none
        pa.field("ocr_ran", pa.bool_(), nullable=False),  # False: left at the vision stage
        pa.field("word_count", pa.int32(), nullable=False),  # OCR words
        pa.field("token_count", pa.int32(), nullable=False),  # WordPiece tokens fed to the model
        pa.field("ocr_ms", pa.float64(), nullable=False),
        pa.field("inference_ms", pa.float64(), nullable=False),  # the page's share of its batch
        pa.field("model_id", pa.string(), nullable=False),
    ]
)

DEAD_LETTER_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("page", pa.int32()),  # null when the whole file failed
        pa.field("stage", pa.string(), nullable=False),  # match/read/decode/ocr/featurize/inference
        pa.field("error_type", pa.string(), nullable=False),
        pa.field("error_message", pa.string(), nullable=False),
    ]
)


def row_sort_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """Rows sort by (source, page)."""
    return (row["source"], row["page"])


def dead_letter_sort_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """Dead letters sort by (source, page, stage, message); whole-file failures first."""
    page = -1 if row["page"] is None else row["page"]
    return (row["source"], page, row["stage"], row["error_message"])


def with_metadata(schema: pa.Schema, metadata: Mapping[str, Any]) -> pa.Schema:
    """`schema` with `metadata` values stored as JSON strings (strings stay as they are)."""
    encoded = {
        key: value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        for key, value in metadata.items()
    }
    return schema.with_metadata(encoded)


class WriteParquet(beam.PTransform):
    """Row dicts -> Parquet files `PREFIX-SSSSS-of-NNNNN.parquet`; returns their final names.

    `num_shards=0` lets the runner choose (one file per bundle)."""

    def __init__(self, prefix: str, schema: pa.Schema, *, num_shards: int = 0) -> None:
        super().__init__()
        if num_shards < 0:
            raise ValueError(f"num_shards must be >= 0, got {num_shards}")
        self._write = WriteToParquet(
            prefix,
            schema,
            file_name_suffix=".parquet",
            num_shards=num_shards,
            row_group_buffer_size=ROW_GROUP_BYTES,
            record_batch_size=RECORD_BATCH_ROWS,
        )

    def expand(self, rows: beam.PCollection) -> beam.PCollection[str]:
        return rows | "WriteToParquet" >> self._write


def read_parquet(paths: Iterable[str]) -> pa.Table:
    """Concatenate Parquet files (local or any Beam filesystem) into one table."""
    tables = []
    for path in paths:
        with FileSystems.open(path) as stream:
            tables.append(pq.read_table(io.BytesIO(stream.read())))
    return pa.concat_tables(tables) if tables else pa.table({})
