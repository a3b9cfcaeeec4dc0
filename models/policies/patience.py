"""`patience`: exit when the prediction has stopped changing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from docexit.models.policies.base import ExitPolicy, PolicyState, SearchData, check_num_exits


@dataclass(frozen=True)
class Patience(ExitPolicy):
    """Patience-based exit (PABEE, Zhou et al. 2020), per page.

    A page exits at the first exit where its argmax has been the same for ``patience``
    consecutive exits (the current one included): ``patience=1`` exits at the first exit,
    ``patience=2`` when two consecutive exits agree. PABEE's patience ``t`` (number of
    *unchanged* predictions) equals ``patience - 1`` here.

    State per page: ``streak (B,) long`` (length of the current run of equal predictions, 0
    before the first exit) and ``last_pred (B,) long`` (-1 before the first exit).
    """

    name: ClassVar[str] = "patience"
    kinds: ClassVar[tuple[str, ...]] = ("patience",)
    auto_rank: ClassVar[int] = 3
    patience: int
    num_exits: int

    def __post_init__(self) -> None:
        if not isinstance(self.patience, int) or self.patience < 1:
            raise ValueError(f"patience must be an int >= 1, got {self.patience!r}")
        check_num_exits(self.num_exits)

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> PolicyState:
        return PolicyState(
            batch_size,
            {
                "streak": torch.zeros(batch_size, dtype=torch.long, device=device),
                "last_pred": torch.full((batch_size,), -1, dtype=torch.long, device=device),
            },
        )

    def exits(
        self, exit_index: int, logits: Tensor, gate: Tensor | None, state: PolicyState
    ) -> tuple[Tensor, PolicyState]:
        pred = logits.argmax(dim=-1)  # (B,)
        last = state.tensors["last_pred"].to(pred.device)  # (B,)
        streak = state.tensors["streak"].to(pred.device)  # (B,)
        streak = torch.where(pred == last, streak + 1, torch.ones_like(streak))  # (B,)
        exit_now = streak >= self.patience  # (B,)
        return exit_now, PolicyState(len(state), {"streak": streak, "last_pred": pred})

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "patience": self.patience, "num_exits": self.num_exits}

    @classmethod
    def from_threshold(cls, text: str, num_exits: int) -> ExitPolicy:
        return cls(int(text), num_exits)

    @classmethod
    def candidates(
        cls, kind: str, data: SearchData, grid: Sequence[float] | None = None
    ) -> list[tuple[float, ExitPolicy]]:
        """Patience 1 .. E by default."""
        ks = grid or range(1, data.num_exits + 1)
        return [(k, cls(int(k), data.num_exits)) for k in ks]

    @classmethod
    def never_exit(cls, num_exits: int) -> ExitPolicy:
        return cls(num_exits, num_exits)
