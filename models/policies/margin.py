"""`margin`: exit when the top class leads the runner-up by enough."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from docexit.models.policies.base import ScoreThreshold
from docexit.models.policies.scores import top2_margin


@dataclass(frozen=True)
class MarginThreshold(ScoreThreshold):
    """Exit when the top-1 minus top-2 softmax probability ``>= threshold``."""

    name: ClassVar[str] = "margin"
    kinds: ClassVar[tuple[str, ...]] = ("margin",)
    auto_rank: ClassVar[int] = 2
    grid: ClassVar[tuple[float, ...]] = (
        *(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999),
    )

    def score(self, logits: Tensor, gate: Tensor | None) -> Tensor:
        return top2_margin(logits)
