"""Abstaining honestly: which pages a confidence threshold sends to a person, and what that
buys on the rest (risk-coverage), from calibrated confidences of labelled pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from docexit.models.report_json import Report

# The --min-confidence values the reports tabulate.
REVIEW_THRESHOLDS = (0.3, 0.5, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class ReviewRow(Report):
    """One --min-confidence value C: the share of pages flagged for review (confidence below
    C) and the accuracy of the pages kept (None when none is kept)."""

    min_confidence: float
    flagged_share: float
    accuracy_kept: float | None


def risk_coverage(
    confidence: torch.Tensor, correct: torch.Tensor, thresholds: Sequence[float] = REVIEW_THRESHOLDS
) -> tuple[ReviewRow, ...]:
    """One `ReviewRow` per threshold. confidence, correct: (N,)."""
    rows = []
    for c in thresholds:
        kept = confidence >= c  # (N,) bool
        accuracy = float(correct[kept].float().mean()) if kept.any() else None
        rows.append(ReviewRow(float(c), float(1.0 - kept.float().mean()), accuracy))
    return tuple(rows)


def mean_risk_coverage(tables: Sequence[Sequence[ReviewRow]]) -> tuple[ReviewRow, ...]:
    """Row-wise mean of several risk-coverage tables over the same thresholds (one per fold
    assignment); an accuracy is averaged over the tables that kept some page."""
    rows = []
    for parts in zip(*tables, strict=True):
        accuracies = [p.accuracy_kept for p in parts if p.accuracy_kept is not None]
        rows.append(
            ReviewRow(
                parts[0].min_confidence,
                sum(p.flagged_share for p in parts) / len(parts),
                sum(accuracies) / len(accuracies) if accuracies else None,
            )
        )
    return tuple(rows)


def coverage_curve(confidence: torch.Tensor, correct: torch.Tensor) -> tuple[list, list]:
    """(coverage, accuracy of the kept pages) when pages are kept from the most confident down:
    one point per page. confidence, correct: (N,)."""
    order = confidence.argsort(descending=True)  # (N,)
    hits = correct[order].float().cumsum(dim=0)  # (N,)
    kept = torch.arange(1, len(order) + 1, dtype=torch.float32)  # (N,)
    return (kept / len(order)).tolist(), (hits / kept).tolist()


def plot_risk_coverage(
    series: Sequence[tuple[torch.Tensor, torch.Tensor, str]], path: str | Path, title: str
) -> Path:
    """Accuracy of the pages kept against the share kept, one curve per (confidence (N,),
    correct (N,), name); the markers are the tabulated --min-confidence values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for confidence, correct, name in series:
        coverage, accuracy = coverage_curve(confidence, correct)
        (line,) = ax.plot(coverage, accuracy, label=name)
        for row in risk_coverage(confidence, correct):
            if row.accuracy_kept is not None:
                ax.plot(1 - row.flagged_share, row.accuracy_kept, "o", color=line.get_color())
                ax.annotate(
                    f"{row.min_confidence:.1f}",
                    (1 - row.flagged_share, row.accuracy_kept),
                    textcoords="offset points",
                    xytext=(3, 3),
                    fontsize=7,
                )
    ax.set_xlabel("share of pages kept (the rest flagged for review)")
    ax.set_ylabel("accuracy of the pages kept")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
