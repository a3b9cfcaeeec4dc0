"""Plots for calibration and early-exit evaluation (matplotlib, Agg canvas, no pyplot state).

Every function writes one PNG and returns its path. Figures are built with
``matplotlib.figure.Figure`` directly, so plotting is thread-safe and never opens a window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from docexit.models.calibration import reliability_bins_from_confidence
from docexit.models.training.metrics import reported_confidence


def _save(fig: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(out, format="png", dpi=100, bbox_inches="tight")
    return out


def _exit_names(num_exits: int, exit_names: Sequence[str] | None) -> list[str]:
    if exit_names is None:
        return [f"exit {e}" for e in range(num_exits)]
    if len(exit_names) != num_exits:
        raise ValueError(f"{len(exit_names)} names for {num_exits} exits")
    return list(exit_names)


def plot_reliability(
    logits: Tensor,
    labels: Tensor,
    temperatures: Sequence[float],
    path: str | Path,
    *,
    exit_names: Sequence[str] | None = None,
    n_bins: int = 15,
    confidence_maps: Sequence[Sequence[float]] | None = None,
) -> Path:
    """Reliability diagrams before and after calibration, one panel per exit.

    ``logits (E, N, C)`` uncalibrated, ``labels (N,)``, ``temperatures`` E floats and, if
    given, E confidence maps ``(slope, bias)``. Each panel shows bin accuracy against bin
    confidence (the diagonal is perfect calibration) for the raw logits, after the temperature
    and, with maps, after the map too, with their ECE in the legend.
    """
    num_exits = logits.shape[0]
    raw, correct = reported_confidence(logits, labels)  # (E, N): calibration changes no label
    scaled, _ = reported_confidence(logits, labels, temperatures)  # (E, N)
    series = [
        [(raw[e], "before"), (scaled[e], f"T={temperatures[e]:.2f}")] for e in range(num_exits)
    ]
    if confidence_maps is not None:
        mapped, _ = reported_confidence(logits, labels, temperatures, confidence_maps)  # (E, N)
        for e, (slope, bias) in enumerate(confidence_maps):
            series[e].append((mapped[e], f"T, then map ({slope:.2f}, {bias:+.2f})"))
    return plot_reliability_series(
        series,
        correct,
        path,
        exit_names=exit_names,
        n_bins=n_bins,
        title="Reliability before and after calibration",
    )


SERIES_COLORS = ("tab:red", "tab:blue", "tab:green", "tab:purple")


def plot_reliability_series(
    series: Sequence[Sequence[tuple[Tensor, str] | tuple[Tensor, str, Tensor]]],
    correct: Tensor,
    path: str | Path,
    *,
    exit_names: Sequence[str] | None = None,
    n_bins: int = 15,
    title: str = "Reliability",
) -> Path:
    """Reliability diagrams, one panel per exit, several confidences side by side per bin.

    ``series[e]`` lists ``(confidence (N,), legend label)`` for exit e; ``correct (E, N)``
    whether the exit's label is right (the same for every series of an exit), unless a series
    brings its own as a third element ``(N,)`` (a calibration that changes labels)."""
    num_exits = len(series)
    names = _exit_names(num_exits, exit_names)
    cols = min(num_exits, 4)
    rows = math.ceil(num_exits / cols)
    fig = Figure(figsize=(3.6 * cols, 3.4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    width = 1.0 / n_bins
    for e in range(num_exits):
        ax = axes[e // cols][e % cols]
        ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1)
        bar = width / len(series[e])
        for s, (confidence, label, *own) in enumerate(series[e]):
            right = own[0] if own else correct[e]
            bins = reliability_bins_from_confidence(confidence, right, n_bins)
            filled = bins.counts > 0
            centers = bins.edges[:-1] + bar * (s + 0.5)
            ax.bar(
                centers[filled].numpy(),
                bins.accuracy[filled].numpy(),
                width=bar,
                color=SERIES_COLORS[s % len(SERIES_COLORS)],
                alpha=0.7,
                label=f"{label}, ECE={bins.ece:.3f}",
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(names[e], fontsize=9)
        ax.set_xlabel("confidence", fontsize=8)
        ax.set_ylabel("accuracy", fontsize=8)
        ax.legend(fontsize=6, loc="upper left")
    for e in range(num_exits, rows * cols):
        axes[e // cols][e % cols].set_visible(False)
    fig.suptitle(title)
    return _save(fig, path)


def plot_exit_histogram(
    counts: Sequence[int] | Tensor,
    path: str | Path,
    *,
    exit_names: Sequence[str] | None = None,
    title: str = "Exit histogram",
) -> Path:
    """Bar chart of how many pages left at each exit (``counts``: one int per exit)."""
    values = [int(c) for c in (counts.tolist() if isinstance(counts, Tensor) else counts)]
    names = _exit_names(len(values), exit_names)
    total = max(sum(values), 1)
    fig = Figure(figsize=(max(4.0, 0.8 * len(values)), 3.2), layout="constrained")
    ax = fig.subplots()
    bars = ax.bar(range(len(values)), values, color="tab:green")
    for bar, v in zip(bars, values, strict=True):
        ax.annotate(
            f"{100 * v / total:.0f}%",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    ax.set_xticks(range(len(values)), names, rotation=30, fontsize=8)
    ax.set_ylabel("pages")
    ax.set_title(title)
    return _save(fig, path)


def plot_pareto(
    curves: Mapping[str, Sequence[tuple[float, float]]],
    path: str | Path,
    *,
    xlabel: str = "compute saving (1 - expected cost)",
    baseline_accuracy: float | None = None,
    title: str = "Accuracy vs compute",
) -> Path:
    """Accuracy against saving (or speedup) for several policies: ``{name: [(x, acc), ...]}``.

    ``baseline_accuracy`` (the full-depth model) is drawn as a horizontal line.
    """
    fig = Figure(figsize=(5.5, 4.0), layout="constrained")
    ax = fig.subplots()
    for name, points in curves.items():
        pts = sorted((float(x), float(y)) for x, y in points)
        if not pts:
            continue
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3, label=name)
    if baseline_accuracy is not None:
        ax.axhline(baseline_accuracy, color="gray", linestyle="--", label="full depth")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
