"""The end-of-run summary: read back from the written Parquet, plus Beam metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from apache_beam.metrics.metric import MetricsFilter

from docexit.transforms.dead_letters import METRICS_NAMESPACE
from docexit.transforms.sinks import read_parquet


@dataclass(frozen=True)
class RunSummary:
    """What a run produced."""

    pages: int  # output rows
    seconds: float  # wall-clock time of the pipeline run
    label_counts: dict[str, int]
    exit_layers: dict[int, int]  # exit layer -> pages (0 = modality exit before the encoder)
    dead_letters: dict[str, int]  # stage -> dead letters
    row_files: list[str]
    dead_letter_files: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)  # docexit counters/distributions

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0

    @property
    def skipped_existing(self) -> int:
        """Input files skipped because earlier outputs have their content hash."""
        return int(self.metrics.get("skipped_existing", 0) or 0)

    @property
    def total_dead_letters(self) -> int:
        return sum(self.dead_letters.values())

    def format(self) -> str:
        """A few human-readable lines."""
        lines = [
            f"pages: {self.pages} classified in {self.seconds:.1f}s "
            f"({self.pages_per_second:.2f} pages/s), {self.total_dead_letters} dead letters",
            "labels: " + (", ".join(f"{k} {v}" for k, v in self.label_counts.items()) or "-"),
            "exit layers: "
            + (", ".join(f"L{k}: {v}" for k, v in sorted(self.exit_layers.items())) or "-"),
        ]
        if "skipped_existing" in self.metrics:
            lines.append(
                f"files: {self.metrics.get('files_in', 0)} in, {self.skipped_existing} skipped "
                "(already in earlier outputs, --skip-existing)"
            )
        if self.dead_letters:
            lines.append(
                "dead letters: "
                + ", ".join(f"{k} {v}" for k, v in sorted(self.dead_letters.items()))
            )
        for name in ("ocr_ms", "inference_ms"):
            dist = self.metrics.get(name)
            if isinstance(dist, dict) and dist.get("count"):
                lines.append(f"{name}: mean {dist['mean']:.0f}, max {dist['max']}")
        lines.append("rows: " + ", ".join(self.row_files))
        lines.append("dead letters: " + ", ".join(self.dead_letter_files))
        return "\n".join(lines)


def query_metrics(result: Any) -> dict[str, Any]:
    """The `docexit` namespace's committed counters (int) and distributions (dict) of a run."""
    out: dict[str, Any] = {}
    try:
        queried = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    except Exception:  # noqa: BLE001 - some runners do not report metrics; the summary copes
        return out
    for counter in queried.get("counters", []):
        name = counter.key.metric.name
        out[name] = out.get(name, 0) + int(counter.committed or 0)
    for dist in queried.get("distributions", []):
        value = dist.committed
        if value is None or not value.count:
            continue
        out[dist.key.metric.name] = {
            "count": value.count,
            "sum": value.sum,
            "min": value.min,
            "max": value.max,
            "mean": value.sum / value.count,
        }
    return out


def summarize(
    row_files: list[str], dead_letter_files: list[str], seconds: float, metrics: dict[str, Any]
) -> RunSummary:
    """Read the outputs back and count pages, labels, exit layers and dead letters."""
    rows = read_parquet(row_files)
    dead = read_parquet(dead_letter_files)
    labels = Counter(rows.column("label").to_pylist()) if rows.num_rows else Counter()
    layers = Counter(rows.column("exit_layer").to_pylist()) if rows.num_rows else Counter()
    stages = Counter(dead.column("stage").to_pylist()) if dead.num_rows else Counter()
    return RunSummary(
        pages=rows.num_rows,
        seconds=seconds,
        label_counts=dict(sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))),
        exit_layers=dict(sorted(layers.items())),
        dead_letters=dict(sorted(stages.items())),
        row_files=list(row_files),
        dead_letter_files=list(dead_letter_files),
        metrics=metrics,
    )
