"""`entropy`: exit when the exit's softmax is peaked enough."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from docexit.models.policies.base import ScoreThreshold
from docexit.models.policies.scores import normalized_entropy


@dataclass(frozen=True)
class EntropyThreshold(ScoreThreshold):
    """Exit when the normalised softmax entropy ``H(p) / log C <= threshold``."""

    name: ClassVar[str] = "entropy"
    kinds: ClassVar[tuple[str, ...]] = ("entropy",)
    auto_rank: ClassVar[int] = 1
    higher_is_confident: ClassVar[bool] = False
    grid: ClassVar[tuple[float, ...]] = (
        *(0.0001, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6),
    )
    never: ClassVar[float] = -1.0  # entropy is never negative

    def score(self, logits: Tensor, gate: Tensor | None) -> Tensor:
        return normalized_entropy(logits)
