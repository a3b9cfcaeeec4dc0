"""`max_prob`: exit when the exit's confidence reaches a threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from docexit.models.policies.base import ScoreThreshold
from docexit.models.policies.scores import exit_confidence


@dataclass(frozen=True)
class MaxProbThreshold(ScoreThreshold):
    """Exit when ``confidence >= threshold`` (gate prob if a gate is given, else max softmax)."""

    name: ClassVar[str] = "max_prob"
    kinds: ClassVar[tuple[str, ...]] = ("max_prob",)
    auto_rank: ClassVar[int] = 0
    grid: ClassVar[tuple[float, ...]] = (
        *(0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.97, 0.98),
        *(0.99, 0.995, 0.999, 0.9999),
    )

    def score(self, logits: Tensor, gate: Tensor | None) -> Tensor:
        return exit_confidence(logits, gate)
