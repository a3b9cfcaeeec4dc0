"""The end-of-run summary: read back from the written Parquet, plus Beam metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from apache_beam.metrics.metric import MetricsFilter

from docexit.transforms.dead_letters import METRICS_NAMESPACE
from docexit.transforms.rows import VISION_EXIT_LAYER
from docexit.transforms.sinks import read_parquet


@dataclass(frozen=True)
class RunSummary:
    """What a run produced."""

    pages: int  # output rows
    seconds: float  # wall-clock time of the pipeline run
    label_counts: dict[str, int]
    # exit layer -> pages (0 = modality exit before the encoder, -1 = vision stage, no OCR)
    exit_layers: dict[int, int]
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

    @property
    def inputs(self) -> int:
        """Pages and files that went in: every one is a row or a dead letter."""
        return self.pages + self.total_dead_letters

    @property
    def failure_share(self) -> float:
        """dead letters / (rows + dead letters); 0 when nothing went in."""
        return self.total_dead_letters / self.inputs if self.inputs else 0.0

    def format(self) -> str:
        """A few human-readable lines."""
        lines = [
            f"pages: {self.pages} classified in {self.seconds:.1f}s "
            f"({self.pages_per_second:.2f} pages/s), {self.total_dead_letters} dead letters",
            f"in: {self.inputs} = {self.pages} rows + {self.total_dead_letters} dead letters "
            f"({self.failure_share:.1%} failed)",
            "labels: " + (", ".join(f"{k} {v}" for k, v in self.label_counts.items()) or "-"),
            "exit layers: "
            + (
                ", ".join(f"{_exit_name(k)}: {v}" for k, v in sorted(self.exit_layers.items()))
                or "-"
            ),
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


def _exit_name(layer: int) -> str:
    """`vision (no OCR)` for the vision stage, `L<k>` for encoder layer k."""
    return "vision (no OCR)" if layer == VISION_EXIT_LAYER else f"L{layer}"


def failure_share_from_metrics(metrics: dict[str, Any]) -> float:
    """The failure share from a finished job's `docexit` counters (`query_metrics`):
    dead_letters_<stage> / (pages_out + those). For launchers that do not wait for the job and
    read its outputs back (Dataflow flex templates): check it at the end of the job. Dead
    letters made inside `--isolate-native-crashes` child processes are not counted there."""
    dead = sum(int(v) for k, v in metrics.items() if k.startswith("dead_letters_"))
    total = int(metrics.get("pages_out", 0) or 0) + dead
    return dead / total if total else 0.0


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
