"""The output folder of a run, and how a run's files replace the previous set as a whole.

`OUTPUT/rows/`, `OUTPUT/dead_letters/` and `OUTPUT/manifest/` hold Parquet files
(`part-SSSSS-of-NNNNN.parquet`); `OUTPUT/_SUCCESS` (JSON: run id, counts, files) is written last.
The sinks write under `OUTPUT/_staging/RUN_ID/`, which readers of `rows/` never see; the last
step of the job (`CommitRun`) then removes `_SUCCESS`, removes the previous run's files from the
three folders, moves the staged files in, removes every `_staging/` leftover (also those of a
killed run) and writes `_SUCCESS`. A run killed before that step leaves the previous set and its
marker untouched; one killed inside it leaves no marker, and the next run replaces everything.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

LOG = logging.getLogger(__name__)

ROWS, DEAD_LETTERS, MANIFEST = "rows", "dead_letters", "manifest"
PARTS = (ROWS, DEAD_LETTERS, MANIFEST)
SUCCESS = "_SUCCESS"
STAGING = "_staging"
FILE_PREFIX = "part"  # part-SSSSS-of-NNNNN.parquet


def join(base: str, *names: str) -> str:
    """`base/name/...` for local paths and URLs alike."""
    return "/".join([base.rstrip("/"), *names])


def is_local(path: str) -> bool:
    return "://" not in path


@dataclass(frozen=True)
class RunLayout:
    """Where one run writes: its output folder and its staging folder."""

    output: str  # the run's output folder
    run_id: str

    def folder(self, part: str) -> str:
        """The final folder of `part` (rows, dead_letters, manifest)."""
        return join(self.output, part)

    def staging_prefix(self, part: str) -> str:
        """The sink's file prefix for `part` inside this run's staging folder."""
        return join(self.output, STAGING, self.run_id, part, FILE_PREFIX)

    @property
    def success(self) -> str:
        return join(self.output, SUCCESS)


def list_files(folder: str) -> list[str]:
    """Files directly in `folder` (empty when it does not exist)."""
    (result,) = FileSystems.match([join(folder, "*")])
    return sorted(m.path for m in result.metadata_list if not m.path.endswith("/"))


def remove_tree(folder: str) -> None:
    """Delete `folder` and everything below it (nothing when it does not exist)."""
    if is_local(folder):
        shutil.rmtree(folder, ignore_errors=True)
        return
    (result,) = FileSystems.match([join(folder, "**")])
    paths = [m.path for m in result.metadata_list]
    if paths:
        FileSystems.delete(paths)


def _make_folder(folder: str) -> None:
    if is_local(folder) and not FileSystems.exists(folder):
        FileSystems.mkdirs(folder)


def write_text(path: str, text: str) -> None:
    """Write `path` through a temporary name and a rename."""
    temporary = f"{path}.tmp"
    with FileSystems.create(temporary) as stream:
        stream.write(text.encode("utf-8"))
    FileSystems.rename([temporary], [path])


def commit_run(
    layout: RunLayout, staged: Mapping[str, Sequence[str]], counts: Mapping[str, int]
) -> dict[str, Any]:
    """Replace the previous set in `layout.output` by the `staged` files; `_SUCCESS` last.

    `staged` maps each part to the sink's final file names in staging. Returns the marker."""
    if FileSystems.exists(layout.success):
        FileSystems.delete([layout.success])
    files: dict[str, list[str]] = {}
    for part in PARTS:
        folder = layout.folder(part)
        old = list_files(folder)
        if old:
            FileSystems.delete(old)
        _make_folder(folder)
        sources = sorted(staged.get(part, ()))
        targets = [join(folder, path.rsplit("/", 1)[-1]) for path in sources]
        if sources:
            FileSystems.rename(sources, targets)
        files[part] = [path.rsplit("/", 1)[-1] for path in targets]
    remove_tree(join(layout.output, STAGING))
    marker = {"run_id": layout.run_id, "counts": dict(sorted(counts.items())), "files": files}
    write_text(layout.success, json.dumps(marker, indent=1, sort_keys=True) + "\n")
    LOG.info("committed run %s to %s: %s", layout.run_id, layout.output,
             {part: len(names) for part, names in files.items()})  # fmt: skip
    return marker


def read_success(output: str) -> dict[str, Any] | None:
    """The `_SUCCESS` marker of `output`, or None when the folder holds no complete run."""
    path = join(output, SUCCESS)
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as stream:
        return json.loads(stream.read().decode("utf-8"))


def merge_counts(tallies: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Sum of count dicts."""
    total: dict[str, int] = {}
    for tally in tallies:
        for key, value in tally.items():
            total[key] = total.get(key, 0) + int(value)
    return total


class CommitRun(beam.PTransform):
    """{part: PCollection of staged file names} + PCollection of count dicts -> the marker."""

    def __init__(self, layout: RunLayout) -> None:
        super().__init__()
        self._layout = layout

    def expand(self, inputs: dict[str, beam.PCollection]) -> beam.PCollection[dict]:
        tallies = inputs["counts"]
        counts = tallies | "SumCounts" >> beam.CombineGlobally(merge_counts)
        layout = self._layout
        files = {part: beam.pvalue.AsList(inputs[part]) for part in PARTS}

        def commit(_: None, counts: dict[str, int], **staged: list[str]) -> dict[str, Any]:
            return commit_run(layout, staged, counts)

        return (
            tallies.pipeline
            | "Once" >> beam.Create([None])
            | "Commit" >> beam.Map(commit, beam.pvalue.AsSingleton(counts), **files)
        )
