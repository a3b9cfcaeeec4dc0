"""Incremental runs (`--skip-existing`): skip input files earlier runs finished, from listing
metadata alone.

Every run writes a manifest (`OUTPUT/manifest/*.parquet`, `MANIFEST_SCHEMA`): one row per file it
read, with the file's listing fingerprint (size, modification time as Beam's `FileSystems.match`
reports it: mtime locally, the object's update time on gs://, which a new generation changes),
its content hash and its dead-letter count. `--skip-existing` names earlier run folders; at
construction only their manifest file names are listed (runs without `_SUCCESS` are left out).
In the pipeline, `ReadDoneFiles` streams those manifests on the workers, `SkipDone` joins them
with this run's matched files by path (CoGroupByKey) and passes on only the files whose path
and fingerprint no earlier run finished without dead letters: skipped files are never opened.
A manifest that cannot be read is a logged warning (counter `skip_scan_unreadable`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from docexit.transforms.dead_letters import METRICS_NAMESPACE
from docexit.transforms.layout import MANIFEST, SUCCESS, join

LOG = logging.getLogger(__name__)

# `--skip-existing` without a value: the run folders beside `--output`.
AUTO = "auto"
_GLOB = re.compile(r"[*?\[]")
MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),  # as in the rows' `source`
        pa.field("size", pa.int64(), nullable=False),  # bytes, from the listing
        pa.field("mtime", pa.float64()),  # listing's modification time (s since epoch)
        pa.field("content_hash", pa.string()),  # sha256 of the bytes; null if never decoded
        pa.field("dead_letters", pa.int32(), nullable=False),  # 0: the file is done
        pa.field("run_id", pa.string(), nullable=False),
    ]
)


def _parent(path: str) -> str:
    path = path.rstrip("/")
    return path.rsplit("/", 1)[0] if "/" in path else "."


def manifest_patterns(values: Sequence[str], output: str) -> list[str]:
    """`--skip-existing` values -> match patterns of manifest files."""
    patterns: list[str] = []
    for value in values:
        if value == AUTO:  # .../nightly/2026-01-31 -> .../nightly/*/manifest/*.parquet
            patterns.append(join(_parent(output), "*", MANIFEST, "*.parquet"))
        elif _GLOB.search(value) or value.endswith(".parquet"):
            patterns.append(value)
        else:  # a run folder, or a folder of run folders
            patterns += [
                join(value, MANIFEST, "*.parquet"),
                join(value, "*", MANIFEST, "*.parquet"),
            ]
    return patterns


def resolve_manifests(values: Sequence[str], output: str) -> list[str]:
    """Manifest files of the earlier complete runs `--skip-existing` names; never `output`'s
    own (a rerun into the same folder redoes its work). Only file names are listed here."""
    own = output.rstrip("/") + "/"
    found: set[str] = set()
    patterns = manifest_patterns(values, output)
    for pattern, result in zip(patterns, FileSystems.match(patterns), strict=True):
        matched = [m.path for m in result.metadata_list if m.path.endswith(".parquet")]
        LOG.info("--skip-existing %r matched %d manifest files", pattern, len(matched))
        found.update(path for path in matched if not path.startswith(own))
    complete: dict[str, bool] = {}
    manifests = []
    for path in sorted(found):
        run = _parent(_parent(path))
        if run not in complete:
            complete[run] = FileSystems.exists(join(run, SUCCESS))
            if not complete[run]:
                LOG.warning("--skip-existing: %s has no %s (incomplete run); ignored", run, SUCCESS)
        if complete[run]:
            manifests.append(path)
    return manifests


Fingerprint = tuple[int, float | None]  # (size, mtime)


def fingerprint(metadata: FileMetadata) -> Fingerprint:
    """What the listing says about a file: (size, modification time or None)."""
    mtime = getattr(metadata, "last_updated_in_seconds", None)
    return int(metadata.size_in_bytes), (float(mtime) if mtime else None)


class _ReadManifestFn(beam.DoFn):
    """Manifest path -> (source, fingerprint) per file it records as done, row group by row
    group; an unreadable manifest -> a logged warning."""

    def __init__(self) -> None:
        self._unreadable = Metrics.counter(METRICS_NAMESPACE, "skip_scan_unreadable")

    def process(self, path: str) -> Iterator[tuple[str, Fingerprint]]:
        columns = ["source", "size", "mtime", "dead_letters"]
        try:
            with FileSystems.open(path) as stream:
                parquet = pq.ParquetFile(stream)
                for batch in parquet.iter_batches(columns=columns):
                    yield from _done_entries(batch.to_pydict())
        except Exception as error:  # noqa: BLE001 - one bad file must not stop the run
            self._unreadable.inc()
            LOG.warning("--skip-existing: cannot read %s (%s: %s); ignored", path,
                        type(error).__name__, error)  # fmt: skip


def _done_entries(batch: dict[str, list]) -> Iterator[tuple[str, Fingerprint]]:
    for source, size, mtime, dead in zip(
        batch["source"], batch["size"], batch["mtime"], batch["dead_letters"], strict=True
    ):
        if dead == 0:
            yield source, (int(size), mtime)


class ReadDoneFiles(beam.PTransform):
    """PBegin -> (source, fingerprint) of every file the earlier manifests record as done."""

    def __init__(self, manifests: Sequence[str]) -> None:
        super().__init__()
        self._manifests = list(manifests)

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            pbegin
            | "Manifests" >> beam.Create(self._manifests)
            | "SpreadManifests" >> beam.Reshuffle()
            | "ReadManifests" >> beam.ParDo(_ReadManifestFn())
        )


def _keep_if_not_done(
    element: tuple[str, dict[str, Iterable[Any]]], skipped: Any
) -> Iterator[FileMetadata]:
    _, grouped = element
    done = set(grouped["done"])
    for metadata in grouped["file"]:
        if fingerprint(metadata) in done:
            skipped.inc()
        else:
            yield metadata


class SkipDone(beam.PTransform):
    """(matched FileMetadata, done (source, fingerprint)) -> the FileMetadata still to do."""

    def __init__(self, key: Any) -> None:
        super().__init__()
        self._key = key  # FileMetadata -> the source string rows and manifests use

    def expand(self, inputs: tuple[beam.PCollection, beam.PCollection]) -> beam.PCollection:
        files, done = inputs
        key = self._key
        skipped = Metrics.counter(METRICS_NAMESPACE, "skipped_existing")
        keyed = files | "KeyBySource" >> beam.Map(lambda m: (key(m), m))
        return (
            {"file": keyed, "done": done}
            | "JoinEarlierRuns" >> beam.CoGroupByKey()
            | "NotDone" >> beam.FlatMap(_keep_if_not_done, skipped)
        )


def manifest_row(element: tuple[str, dict[str, Iterable[Any]]], run_id: str) -> Iterator[dict]:
    """(source, {"file": [fingerprint], "hash": [...], "dead": [...]}) -> the manifest row."""
    source, grouped = element
    for size, mtime in list(grouped["file"])[:1]:
        hashes = list(grouped["hash"])
        yield {
            "source": source,
            "size": size,
            "mtime": mtime,
            "content_hash": hashes[0] if hashes else None,
            "dead_letters": sum(1 for _ in grouped["dead"]),
            "run_id": run_id,
        }


class BuildManifest(beam.PTransform):
    """{"file": (source, fingerprint), "hash": (source, hash), "dead": (source, 1)} -> rows."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self._run_id = run_id

    def expand(self, inputs: dict[str, beam.PCollection]) -> beam.PCollection[dict]:
        return (
            inputs
            | "JoinPerFile" >> beam.CoGroupByKey()
            | "ManifestRows" >> beam.FlatMap(manifest_row, self._run_id)
        )
