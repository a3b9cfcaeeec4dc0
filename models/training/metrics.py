"""Evaluation metrics on stored early-exit logits: accuracy and calibration per exit, exit
histograms. Logits are ``(E, N, C)`` (exits ordered by depth), labels ``(N,)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from docexit.models.calibration import (
    apply_temperatures,
    confidence_ece,
    map_confidence,
    nll,
)


def _check(logits: Tensor, labels: Tensor) -> None:
    if logits.ndim != 3:
        raise ValueError(f"logits must be (E, N, C), got shape {tuple(logits.shape)}")
    if labels.shape != (logits.shape[1],):
        raise ValueError(f"labels must be ({logits.shape[1]},), got {tuple(labels.shape)}")


def accuracy_per_exit(logits: Tensor, labels: Tensor) -> list[float]:
    """Top-1 accuracy of every exit on all pages. ``(E, N, C)`` -> E floats."""
    _check(logits, labels)
    correct = logits.argmax(dim=-1) == labels.to(logits.device)[None]  # (E, N)
    return correct.float().mean(dim=1).tolist()


def reported_confidence(
    logits: Tensor,
    labels: Tensor,
    temperatures: Sequence[float] | None = None,
    confidence_maps: Sequence[Sequence[float]] | None = None,
) -> tuple[Tensor, Tensor]:
    """Every exit's reported confidence ``(E, N)`` and whether its label is right ``(E, N)``:
    max softmax of ``logits / T_e`` (if given), then the exit's confidence map (if given)."""
    _check(logits, labels)
    if temperatures is not None:
        logits = apply_temperatures(logits, temperatures)
    confidence, prediction = torch.softmax(logits.float(), dim=-1).max(dim=-1)  # (E, N)
    if confidence_maps is not None:
        confidence = torch.stack(
            [map_confidence(confidence[e], confidence_maps[e]) for e in range(len(confidence))]
        )  # (E, N)
    return confidence, prediction == labels.to(logits.device)[None]


def ece_per_exit(
    logits: Tensor,
    labels: Tensor,
    temperatures: Sequence[float] | None = None,
    n_bins: int = 15,
    confidence_maps: Sequence[Sequence[float]] | None = None,
) -> list[float]:
    """ECE (equal-width bins) of every exit's reported confidence (see `reported_confidence`)."""
    confidence, correct = reported_confidence(logits, labels, temperatures, confidence_maps)
    return [confidence_ece(confidence[e], correct[e], n_bins) for e in range(len(confidence))]


def calibration_report(
    logits: Tensor,
    labels: Tensor,
    temperatures: Sequence[float],
    n_bins: int = 15,
) -> list[dict[str, Any]]:
    """Per exit: accuracy, temperature, ECE and NLL before and after temperature scaling."""
    _check(logits, labels)
    calibrated = apply_temperatures(logits, temperatures)  # (E, N, C)
    before = ece_per_exit(logits, labels, None, n_bins)
    after = ece_per_exit(calibrated, labels, None, n_bins)
    accs = accuracy_per_exit(logits, labels)
    labels = labels.to(logits.device)
    return [
        {
            "exit": e,
            "accuracy": accs[e],
            "temperature": float(temperatures[e]),
            "ece_before": before[e],
            "ece_after": after[e],
            "nll_before": nll(logits[e], labels),
            "nll_after": nll(calibrated[e], labels),
        }
        for e in range(logits.shape[0])
    ]


def exit_histogram(exit_index: Tensor, num_exits: int) -> list[int]:
    """Number of pages that left at each exit. ``exit_index (N,)`` -> ``num_exits`` counts."""
    idx = exit_index.detach().long().cpu()
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= num_exits):
        raise ValueError(f"exit indices must be in [0, {num_exits})")
    return torch.bincount(idx, minlength=num_exits).tolist()


def exit_fractions(exit_index: Tensor, num_exits: int) -> list[float]:
    """Fraction of pages that left at each exit (sums to 1 when N > 0)."""
    counts = exit_histogram(exit_index, num_exits)
    n = max(sum(counts), 1)
    return [c / n for c in counts]


def ece_change_interval(
    confidence_before: Tensor,
    confidence_after: Tensor,
    correct: Tensor,
    *,
    correct_after: Tensor | None = None,
    level: float = 0.9,
    resamples: int = 1000,
    seed: int = 0,
    n_bins: int = 15,
) -> tuple[float, float]:
    """Paired bootstrap interval of ``ECE(after) - ECE(before)`` over the same resampled pages.

    ``confidence_* (N,)`` of the same top labels, ``correct (N,)`` bool; either may also be
    ``(R, N)``, R versions of the same pages (e.g. repeated cross-fitting), whose ECE is the
    mean over R. ``correct_after`` (``(N,)`` or ``(R, N)``): when the new calibration changes
    labels (a text prior), whether its labels are right; default ``correct``. The basic (pivotal) interval ``2 d - q``:
    binned ECE is biased upwards on resamples, and the percentile interval can miss the point
    estimate ``d``. An interval holding 0 means the change is within the noise of this many
    pages."""
    n = correct.numel()
    if n == 0:
        return 0.0, 0.0

    right_after = correct if correct_after is None else correct_after

    def change(rows: Tensor | slice) -> float:
        after = confidence_ece(confidence_after[..., rows], right_after[..., rows], n_bins)
        return after - confidence_ece(confidence_before[..., rows], correct[rows], n_bins)

    generator = torch.Generator().manual_seed(seed)
    changes = []
    for _ in range(resamples):
        rows = torch.randint(0, n, (n,), generator=generator)  # (N,)
        changes.append(change(rows))
    q_low, q_high = torch.tensor(changes, dtype=torch.float64).quantile(
        torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    )
    point = change(slice(None))
    return float(2 * point - q_high), float(2 * point - q_low)


LEVEL = 0.95  # two-sided level of every interval


def paired_bootstrap(
    deltas: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile bootstrap of the mean per-page difference, pages resampled with replacement.

    deltas: (R, N): for R comparisons, each test page's correctness difference (e.g. early exit
    minus full depth, each in [-1, 1]; averages over seeds allowed). Every comparison uses the
    same resamples, so intervals of different rows are comparable. Returns mean, low and high,
    each (R,).
    """
    deltas = np.atleast_2d(np.asarray(deltas, dtype=np.float64))  # (R, N)
    rows, n = deltas.shape
    if n == 0:
        zeros = np.zeros(rows)
        return zeros, zeros, zeros
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)  # (B, N)
    alpha = (1.0 - level) / 2.0
    low, high = np.empty(rows), np.empty(rows)
    for start in range(0, rows, 256):  # (B, 256) at a time
        means = weights @ deltas[start : start + 256].T / n  # (B, r)
        low[start : start + 256] = np.quantile(means, alpha, axis=0)
        high[start : start + 256] = np.quantile(means, 1.0 - alpha, axis=0)
    return deltas.mean(axis=1), low, high
