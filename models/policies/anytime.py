"""`anytime_budget`: any policy under a depth budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from docexit.models.policies.base import ExitPolicy, PolicyState, policy_from_dict


@dataclass(frozen=True)
class AnytimeBudget(ExitPolicy):
    """Wrap a policy with a depth budget: every page exits at exit ``max_exit`` at the latest.

    Before ``max_exit`` the inner policy decides; its state is passed through unchanged. Built
    from JSON only (``--policy '{"name": "anytime_budget", "inner": {...}, "max_exit": 2}'``).
    """

    name: ClassVar[str] = "anytime_budget"
    inner: ExitPolicy
    max_exit: int

    def __post_init__(self) -> None:
        if not isinstance(self.max_exit, int) or not 0 <= self.max_exit < self.inner.num_exits:
            raise ValueError(
                f"max_exit must be in [0, {self.inner.num_exits}), got {self.max_exit}"
            )

    @property
    def num_exits(self) -> int:  # type: ignore[override]
        return self.inner.num_exits

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> PolicyState:
        return self.inner.init_state(batch_size, device)

    def exits(
        self, exit_index: int, logits: Tensor, gate: Tensor | None, state: PolicyState
    ) -> tuple[Tensor, PolicyState]:
        exit_now, state = self.inner.decide(exit_index, logits, gate, state)
        if exit_index >= self.max_exit:
            exit_now = torch.ones_like(exit_now, dtype=torch.bool)
        return exit_now, state

    def threshold_at(self, exit_index: int) -> float | None:
        return self.inner.threshold_at(exit_index)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "inner": self.inner.to_dict(), "max_exit": self.max_exit}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnytimeBudget:
        return cls(inner=policy_from_dict(d["inner"]), max_exit=int(d["max_exit"]))
