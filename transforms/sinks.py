"""Parquet outputs: page rows and dead letters, with explicit schemas and stable shard names.

`WriteParquetShards` writes `PREFIX-SSSSS-of-NNNNN.parquet`: every row goes to shard
`crc32(key) % N`, each shard's rows are sorted, and every shard file is written even when it
has no rows, so a rerun over the same input rewrites the same files with the same rows in the
same order (idempotent; timing columns and float noise from batch composition aside).
A file is written to a temporary name and renamed into place (local and gs:// alike), and the
temporary file is removed if that fails: a bundle retried after a failure rewrites the same shard
files and leaves nothing else behind, so retries never duplicate rows.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

LOG = logging.getLogger(__name__)

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


def shard_names(prefix: str, num_shards: int, suffix: str = ".parquet") -> list[str]:
    """The files `WriteParquetShards(prefix, num_shards=...)` writes, in shard order."""
    return [f"{prefix}-{i:05d}-of-{num_shards:05d}{suffix}" for i in range(num_shards)]


def with_metadata(schema: pa.Schema, metadata: Mapping[str, Any]) -> pa.Schema:
    """`schema` with `metadata` values stored as JSON strings (strings stay as they are)."""
    encoded = {
        key: value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        for key, value in metadata.items()
    }
    return schema.with_metadata(encoded)


def write_parquet(rows: list[Mapping[str, Any]], schema: pa.Schema, path: str) -> None:
    """Write `rows` to `path` (local or any Beam filesystem) via a temp file and a rename."""
    table = pa.Table.from_pylist(list(rows), schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    temporary = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        with FileSystems.create(temporary) as stream:
            stream.write(buffer.getvalue())
        FileSystems.rename([temporary], [path])  # replaces an earlier attempt's file
    except Exception:
        _remove_quietly(temporary)
        raise


def _remove_quietly(path: str) -> None:
    """Delete `path` if it exists; a cleanup that fails is only logged."""
    try:
        if FileSystems.exists(path):
            FileSystems.delete([path])
    except Exception:  # noqa: BLE001 - the original error matters more
        LOG.warning("could not remove temporary file %s", path, exc_info=True)


class _WriteShardFn(beam.DoFn):
    """(shard, rows incl. None markers) -> path of the written shard file."""

    def __init__(
        self,
        prefix: str,
        num_shards: int,
        schema: pa.Schema,
        sort_key: Callable[[Mapping[str, Any]], Any],
    ) -> None:
        self._names = shard_names(prefix, num_shards)
        self._schema = schema
        self._sort_key = sort_key

    def process(self, element: tuple[int, Iterable[Mapping[str, Any] | None]]) -> Iterator[str]:
        shard, values = element
        rows = sorted((row for row in values if row is not None), key=self._sort_key)
        path = self._names[shard]
        write_parquet(rows, self._schema, path)
        LOG.info("wrote %d rows to %s", len(rows), path)
        yield path


class WriteParquetShards(beam.PTransform):
    """Row dicts -> `num_shards` sorted Parquet files `PREFIX-SSSSS-of-NNNNN.parquet`."""

    def __init__(
        self,
        prefix: str,
        schema: pa.Schema,
        *,
        num_shards: int = 1,
        key: Callable[[Mapping[str, Any]], str],
        sort_key: Callable[[Mapping[str, Any]], Any],
    ) -> None:
        super().__init__()
        if num_shards < 1:
            raise ValueError(f"num_shards must be >= 1, got {num_shards}")
        self._prefix = prefix
        self._schema = schema
        self._num_shards = num_shards
        self._key = key
        self._sort_key = sort_key

    def expand(self, rows: beam.PCollection) -> beam.PCollection[str]:
        n, key = self._num_shards, self._key
        keyed = rows | "AssignShard" >> beam.Map(
            lambda row: (zlib.crc32(key(row).encode("utf-8")) % n, row)
        )
        # One None per shard so that every shard file is written, even with no rows.
        markers = rows.pipeline | "EveryShard" >> beam.Create([(i, None) for i in range(n)])
        return (
            (keyed, markers)
            | "WithEmptyShards" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard"
            >> beam.ParDo(_WriteShardFn(self._prefix, n, self._schema, self._sort_key))
        )


def read_parquet(paths: Iterable[str]) -> pa.Table:
    """Concatenate Parquet files (local or any Beam filesystem) into one table."""
    tables = []
    for path in paths:
        with FileSystems.open(path) as stream:
            tables.append(pq.read_table(io.BytesIO(stream.read())))
    return pa.concat_tables(tables) if tables else pa.table({})
