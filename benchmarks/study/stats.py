"""Statistics of `docexit study` for small test sets: noise verdicts on paired bootstrap
intervals (`models.metrics.paired_bootstrap`), Pareto fronts of (speed, accuracy) points, and
page samples spread over a split."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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
