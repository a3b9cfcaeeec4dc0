"""Incremental runs (`--skip-existing`): the content hashes earlier runs already classified.

At construction, `resolve_existing_outputs` matches the `--skip-existing` patterns (a Parquet file,
a glob, or a folder/prefix whose `*.parquet` files are read; local or gs://) and groups the files
into earlier runs: `PREFIX-SSSSS-of-NNNNN.parquet` row shards with their
`PREFIX-dead-letters-00000-of-00001.parquet`. Only the paths are read then. In the pipeline,
`ReadExistingHashes` reads each run's `content_hash` column (workers, not the launcher, so that
an archive-scale hash set never goes into the job graph) and `ReadAndDecodeFn` gets the hashes
as an `AsDict` side input. A file counts as done only when an earlier run wrote rows for its
hash and has no dead letter for its source: files with dead letters are retried.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

LOG = logging.getLogger(__name__)

# `--skip-existing` without a value: the outputs under the parent of `--output`'s folder.
AUTO = "auto"
_GLOB = re.compile(r"[*?\[]")
_SHARD = re.compile(r"^(?P<prefix>.*)-\d{5}-of-\d{5}\.parquet$")
_DEAD_LETTERS = "-dead-letters"


@dataclass(frozen=True)
class EarlyRun:
    """One earlier run's outputs: row shard files and its dead-letter file (if any)."""

    row_files: tuple[str, ...]
    dead_letter_files: tuple[str, ...] = ()


def _parent(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[0] if "/" in path.rstrip("/") else "."


def skip_patterns(values: Sequence[str], output: str) -> list[str]:
    """`--skip-existing` values -> match patterns of Parquet files."""
    patterns: list[str] = []
    for value in values:
        if value == AUTO:  # .../nightly/2026-01-31/pages -> .../nightly/**.parquet
            patterns.append(_parent(_parent(output)) + "/**.parquet")
        elif _GLOB.search(value) or value.endswith(".parquet"):
            patterns.append(value)
        else:  # a folder (anything below it) or an output prefix (its shards)
            patterns += [value.rstrip("/") + "/**.parquet", value + "*.parquet"]
    return patterns


def resolve_existing_outputs(values: Sequence[str], output: str) -> list[EarlyRun]:
    """Match `--skip-existing` values and group the Parquet files by run. The current run's own
    output files (`OUTPUT-*.parquet`) are left out: a rerun into the same prefix redoes its work
    instead of overwriting it with nothing."""
    patterns = skip_patterns(values, output)
    paths: set[str] = set()
    for pattern, result in zip(patterns, FileSystems.match(patterns), strict=True):
        matched = [m.path for m in result.metadata_list if m.path.endswith(".parquet")]
        LOG.info("--skip-existing %r matched %d Parquet files", pattern, len(matched))
        paths.update(matched)
    own = re.compile(re.escape(output) + r"(-dead-letters)?-\d{5}-of-\d{5}\.parquet$")
    rows: dict[str, list[str]] = {}
    dead: dict[str, list[str]] = {}
    for path in sorted(paths):
        if own.match(path):
            continue
        shard = _SHARD.match(path)
        prefix = shard.group("prefix") if shard else path
        if prefix.endswith(_DEAD_LETTERS):
            dead.setdefault(prefix[: -len(_DEAD_LETTERS)], []).append(path)
        else:
            rows.setdefault(prefix, []).append(path)
    return [
        EarlyRun(tuple(files), tuple(dead.get(prefix, ())))
        for prefix, files in sorted(rows.items())
    ]


def _read_columns(path: str, columns: list[str]) -> dict[str, list]:
    with FileSystems.open(path) as stream:
        data = stream.read()
    names = set(pq.read_schema(io.BytesIO(data)).names)
    if not set(columns) <= names:
        LOG.warning("--skip-existing: %s has no %s column; ignored", path, columns)
        return {c: [] for c in columns}
    table = pq.read_table(io.BytesIO(data), columns=columns)
    return {c: table.column(c).to_pylist() for c in columns}


def done_hashes(run: EarlyRun) -> Iterator[str]:
    """Content hashes of the files `run` classified without any dead letter."""
    failed = {
        s for path in run.dead_letter_files for s in _read_columns(path, ["source"])["source"]
    }
    seen: set[str] = set()
    for path in run.row_files:
        columns = _read_columns(path, ["source", "content_hash"])
        for source, digest in zip(columns["source"], columns["content_hash"], strict=True):
            if source not in failed and digest not in seen:
                seen.add(digest)
                yield digest


class ReadExistingHashes(beam.PTransform):
    """PBegin -> (content_hash, True) per file that earlier runs finished (for `AsDict`)."""

    def __init__(self, runs: Sequence[EarlyRun]) -> None:
        super().__init__()
        self._runs = list(runs)

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection[tuple[str, bool]]:
        return (
            pbegin
            | "EarlierRuns" >> beam.Create(self._runs)
            | "ReadHashes" >> beam.FlatMap(done_hashes)
            | "Distinct" >> beam.Distinct()
            | "AsEntries" >> beam.Map(lambda digest: (digest, True))
        )
