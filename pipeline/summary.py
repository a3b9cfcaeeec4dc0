"""The end-of-run summary, from the job's Beam metrics (the outputs are not read back)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apache_beam.metrics.metric import MetricsFilter

from docexit.transforms import counts
from docexit.transforms.dead_letters import METRICS_NAMESPACE
from docexit.transforms.inference import ENGINE_BATCH_PAGES
from docexit.transforms.layout import DEAD_LETTERS, ROWS, join, list_files
from docexit.transforms.rows import VISION_EXIT_LAYER


@dataclass(frozen=True)
class RunSummary:
    """What a run produced."""

    pages: int  # output rows
    seconds: float  # wall-clock time of the pipeline run
    label_counts: dict[str, int]
    # exit layer -> pages (0 = modality exit before the encoder, -1 = vision stage, no OCR)
    exit_layers: dict[int, int]
    dead_letters: dict[str, int]  # stage -> dead letters
    output: str  # the run's output folder
    metrics: dict[str, Any] = field(default_factory=dict)  # docexit counters/distributions

    @property
    def row_files(self) -> list[str]:
        """The Parquet files in `OUTPUT/rows/` (listed, not read)."""
        return list_files(join(self.output, ROWS))

    @property
    def dead_letter_files(self) -> list[str]:
        """The Parquet files in `OUTPUT/dead_letters/` (listed, not read)."""
        return list_files(join(self.output, DEAD_LETTERS))

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
                "(done in earlier runs, --skip-existing)"
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
        batches = self.metrics.get(ENGINE_BATCH_PAGES)
        if isinstance(batches, dict) and batches.get("count"):
            lines.append(
                f"engine batches: {batches['count']} of {batches['mean']:.1f} pages on average "
                f"(min {batches['min']}, max {batches['max']})"
            )
        lines.append(f"output: {self.output}/ (rows/, dead_letters/, manifest/, _SUCCESS)")
        return "\n".join(lines)


def _exit_name(layer: int) -> str:
    """`vision (no OCR)` for the vision stage, `L<k>` for encoder layer k."""
    return "vision (no OCR)" if layer == VISION_EXIT_LAYER else f"L{layer}"


def failure_share_from_metrics(metrics: dict[str, Any]) -> float:
    """The failure share from a finished job's `docexit` counters (`query_metrics`): what the
    sinks counted as written. For launchers that do not wait for the job (Dataflow flex
    templates): check it at the end of the job, or read the counts in `OUTPUT/_SUCCESS`."""
    return summarize("", 0.0, metrics).failure_share


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


def summarize(output: str, seconds: float, metrics: dict[str, Any]) -> RunSummary:
    """The summary of a finished run from its `docexit` metrics (`query_metrics`)."""
    labels = counts.by_prefix(metrics, counts.LABEL)
    layers = {int(k): v for k, v in counts.by_prefix(metrics, counts.EXIT_LAYER).items()}
    stages = {k: v for k, v in counts.by_prefix(metrics, counts.DEAD_LETTERS).items() if v}
    return RunSummary(
        pages=int(metrics.get(counts.ROWS, 0) or 0),
        seconds=seconds,
        label_counts=dict(sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))),
        exit_layers=dict(sorted(layers.items())),
        dead_letters=dict(sorted(stages.items())),
        output=output,
        metrics=metrics,
    )
