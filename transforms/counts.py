"""What a run wrote, counted as it is written: Beam counters for the launcher's summary and a
count dict per element for the `_SUCCESS` marker (summed by `layout.CommitRun`).

Counters (namespace `docexit`): `rows_written`, `rows_label_<label>`, `rows_exit_layer_<k>`,
`dead_letters_written_<stage>`, `manifest_files`. They are counted in the launching process's
steps, so `--isolate-native-crashes` does not hide them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apache_beam.metrics import Metrics

from docexit.transforms.dead_letters import METRICS_NAMESPACE

ROWS = "rows_written"
LABEL = "rows_label_"
EXIT_LAYER = "rows_exit_layer_"
DEAD_LETTERS = "dead_letters_written_"
MANIFEST_FILES = "manifest_files"


def _count(names: list[str]) -> dict[str, int]:
    for name in names:
        Metrics.counter(METRICS_NAMESPACE, name).inc()
    return dict.fromkeys(names, 1)


def count_row(row: Mapping[str, Any]) -> dict[str, int]:
    """One page row: rows, its label, its exit layer."""
    return _count([ROWS, f"{LABEL}{row['label']}", f"{EXIT_LAYER}{row['exit_layer']}"])


def count_dead_letter(row: Mapping[str, Any]) -> dict[str, int]:
    """One dead-letter row, by stage."""
    return _count([f"{DEAD_LETTERS}{row['stage']}"])


def count_manifest_row(_: Mapping[str, Any]) -> dict[str, int]:
    """One file of the manifest."""
    return _count([MANIFEST_FILES])


def by_prefix(counts: Mapping[str, Any], prefix: str) -> dict[str, int]:
    """{suffix: count} of the counts whose name starts with `prefix`."""
    return {k[len(prefix) :]: int(v) for k, v in counts.items() if k.startswith(prefix)}
