"""Match input patterns (local paths or gs://) and read the matched files' bytes.

`MatchInputs` mirrors `fileio.MatchAll` (same `FileSystems.match` underneath) but sends a pattern
that matches nothing, or cannot be matched at all, to the dead letters instead of failing the
run, and so does a local symbolic link whose target is missing (the listing leaves those out);
then it drops duplicate paths (two patterns may match one file). `ReadFiles` `Reshuffle`s the
files that are left so they spread over workers, and wraps them as `fileio.ReadableFile`s.
`check_patterns` is the up-front check the launcher runs, so that an empty match is a clear
error before any worker starts.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterable, Iterator, Sequence

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems

from docexit.transforms.dead_letters import DEAD_LETTERS, DeadLetter, dead_letter

LOG = logging.getLogger(__name__)


class NoMatchError(ValueError):
    """An input pattern matched no file."""


def check_patterns(patterns: Sequence[str]) -> dict[str, int]:
    """Match every pattern once (up to one file each); raise `NoMatchError` naming the empty ones.

    Returns {pattern: 1} for patterns with at least one match (a cheap existence check, not a
    count: listing a whole bucket here would defeat the point of matching on workers).
    """
    if not patterns:
        raise NoMatchError("no --input pattern given")
    results = FileSystems.match(list(patterns), limits=[1] * len(patterns))
    empty = [
        pattern
        for pattern, result in zip(patterns, results, strict=True)
        if not result.metadata_list
    ]
    if empty:
        raise NoMatchError("no input file matches " + ", ".join(repr(p) for p in empty))
    return dict.fromkeys(patterns, 1)


class _MatchPatternFn(beam.DoFn):
    """pattern -> FileMetadata of each matched file; unmatched patterns -> dead letters."""

    def process(self, pattern: str) -> Iterator[FileMetadata | beam.pvalue.TaggedOutput]:
        try:
            (result,) = FileSystems.match([pattern])
            matched = [m for m in result.metadata_list if not m.path.endswith("/")]
            if not matched:
                raise NoMatchError(f"no input file matches {pattern!r}")
        except Exception as error:  # noqa: BLE001 - every failure becomes a dead letter
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, dead_letter("match", pattern, None, error))
            return
        LOG.info("input %r matched %d files", pattern, len(matched))
        yield from matched
        for path in broken_links(pattern):
            error = FileNotFoundError(f"broken symbolic link: its target {os.readlink(path)!r} "
                                      "does not exist")  # fmt: skip
            LOG.warning("input %s is a broken symbolic link", path)
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, dead_letter("read", path, None, error))


def broken_links(pattern: str) -> list[str]:
    """Local symbolic links matching `pattern` whose target does not exist."""
    if "://" in pattern:
        return []
    return sorted(
        path
        for path in glob.glob(pattern, recursive=True)
        if os.path.islink(path) and not os.path.exists(path)
    )


def _path_key(metadata: FileMetadata) -> tuple[bytes, FileMetadata]:
    """(the path as bytes, metadata): non-UTF-8 file names kept exactly (surrogateescape)."""
    return metadata.path.encode("utf-8", "surrogateescape"), metadata


def _first(path_and_metadata: tuple[bytes, Iterable[FileMetadata]]) -> FileMetadata:
    """One FileMetadata per path (duplicates come from overlapping patterns)."""
    _, metadata = path_and_metadata
    return next(iter(metadata))


class MatchInputs(beam.PTransform):
    """PBegin -> (FileMetadata per distinct matched file, DeadLetter per empty/failed pattern)."""

    def __init__(self, patterns: Sequence[str]) -> None:
        super().__init__()
        if not patterns:
            raise ValueError("MatchInputs needs at least one pattern")
        self._patterns = list(patterns)

    def expand(
        self, pbegin: beam.pvalue.PBegin
    ) -> tuple[beam.PCollection[FileMetadata], beam.PCollection[DeadLetter]]:
        matched = (
            pbegin
            | "Patterns" >> beam.Create(self._patterns)
            | "Match" >> beam.ParDo(_MatchPatternFn()).with_outputs(DEAD_LETTERS, main="files")
        )
        files = (
            matched.files
            # Keyed by the path's bytes: a file name that is not UTF-8 has no str coder.
            | "KeyByPath" >> beam.Map(_path_key)
            | "GroupByPath" >> beam.GroupByKey()
            | "DropDuplicatePaths" >> beam.Map(_first)
        )
        return files, matched[DEAD_LETTERS]


class ReadFiles(beam.PTransform):
    """FileMetadata -> ReadableFile, spread over workers first."""

    def expand(self, files: beam.PCollection) -> beam.PCollection[fileio.ReadableFile]:
        return files | "Reshuffle" >> beam.Reshuffle() | "ReadMatches" >> fileio.ReadMatches()
