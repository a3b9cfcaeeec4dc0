"""Statistics of `docexit study` for small test sets: paired bootstrap intervals on accuracy
differences over the same test pages, and Pareto fronts of (speed, accuracy) points."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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


def within_noise(low: float, high: float) -> bool:
    """True when the interval contains no difference (0)."""
    return low <= 0.0 <= high


def pareto_mask(speed: Sequence[float], accuracy: Sequence[float]) -> list[bool]:
    """Which points no other point dominates (at least as fast and as accurate, and strictly
    better in one of the two)."""
    points = list(zip(speed, accuracy, strict=True))
    mask = []
    for s, a in points:
        dominated = any((s2 >= s and a2 >= a) and (s2 > s or a2 > a) for s2, a2 in points)
        mask.append(not dominated)
    return mask


def spread_indices(count: int, k: int) -> list[int]:
    """Up to `k` indices spread evenly over 0..count-1, ends included."""
    if count <= 0 or k <= 0:
        return []
    if k >= count:
        return list(range(count))
    return sorted({int(round(x)) for x in np.linspace(0, count - 1, k)})
