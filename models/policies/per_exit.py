"""`per_exit`: one confidence threshold per exit, from the paper's heuristic or a search."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from docexit.models.calibration import expected_calibration_error
from docexit.models.policies.base import (
    NEVER_EXIT,
    ExitPolicy,
    Gates,
    PolicyState,
    SearchData,
    check_finite,
)
from docexit.models.policies.replay import (
    check_logits,
    costs_tensor,
    first_passing_exit,
    scores_and_correct,
)
from docexit.models.policies.scores import exit_confidence

#: Default grids: shifts lambda of the heuristic's thresholds (``lambda + (1 - lambda) * t_i``)
#: and accuracy tolerances of the search.
HEURISTIC_SHIFTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
SEARCH_TOLERANCES = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1)


def heuristic_thresholds(
    accuracies: Sequence[float], eces: Sequence[float], eps: float = 0.01
) -> list[float]:
    """The paper's accuracy/calibration heuristic for per-exit thresholds.

    Exact formula (as in the authors' public code, ``accuracy_calibration_heuristic``)::

        m_i = 1 - acc_i / max(ECE_i, 1e-6)                      # per exit i
        t_i = (m_i - (min_j m_j - eps)) / ((max_j m_j + eps) - (min_j m_j - eps))

    i.e. the acc/ECE ratio is formed first, ``1 - ratio`` taken, then min-max normalised over
    all exits (final included) with an ``eps`` margin so every ``t_i`` lies strictly inside
    (0, 1). Exits that are accurate *and* calibrated (large acc/ECE) get low thresholds; if
    all exits are alike every threshold is 0.5. ECE is floored at 1e-6 to avoid dividing by 0.
    """
    if len(accuracies) != len(eces) or not accuracies:
        raise ValueError("need one accuracy and one ECE per exit")
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    m = [1.0 - a / max(e, 1e-6) for a, e in zip(accuracies, eces, strict=True)]
    lo, hi = min(m) - eps, max(m) + eps
    return [(mi - lo) / (hi - lo) for mi in m]


@dataclass(frozen=True)
class PerExitThresholds(ExitPolicy):
    """One max-prob (or gate-prob) threshold per exit: exit at e when ``conf_e >= t_e``.

    ``thresholds`` has one entry per exit (``num_exits = len(thresholds)``); the last entry is
    ignored because the final classifier always exits.
    """

    name: ClassVar[str] = "per_exit"
    kinds: ClassVar[tuple[str, ...]] = ("per_exit_heuristic", "per_exit_search")
    auto_rank: ClassVar[int] = 4
    thresholds: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))
        if not self.thresholds:
            raise ValueError("thresholds must have one entry per exit")
        for t in self.thresholds:
            check_finite("threshold", t)

    @property
    def num_exits(self) -> int:  # type: ignore[override]
        return len(self.thresholds)

    def exits(
        self, exit_index: int, logits: Tensor, gate: Tensor | None, state: PolicyState
    ) -> tuple[Tensor, PolicyState]:
        return exit_confidence(logits, gate) >= self.thresholds[exit_index], state  # (B,)

    def threshold_at(self, exit_index: int) -> float | None:
        return float(self.thresholds[exit_index])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "thresholds": list(self.thresholds)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PerExitThresholds:
        return cls(thresholds=tuple(d["thresholds"]))

    @classmethod
    def from_threshold(cls, text: str, num_exits: int) -> ExitPolicy:
        """Comma-separated thresholds, one per exit."""
        values = [float(v) for v in text.split(",")]
        if len(values) != num_exits:
            raise ValueError(f"--threshold needs {num_exits} comma-separated values for per_exit")
        return cls(tuple(values))

    @classmethod
    def candidates(
        cls, kind: str, data: SearchData, grid: Sequence[float] | None = None
    ) -> list[tuple[float, ExitPolicy]]:
        """``per_exit_heuristic``: the heuristic's thresholds shifted by lambda (0 = the paper's);
        ``per_exit_search``: :meth:`search` under each accuracy tolerance."""
        if kind == "per_exit_heuristic":
            base = cls.from_heuristic(data.logits, data.labels).thresholds
            return [
                (lam, cls(tuple(lam + (1.0 - lam) * t for t in base)))
                for lam in grid or HEURISTIC_SHIFTS
            ]
        if kind != "per_exit_search":
            raise ValueError(f"unknown kind {kind!r} for {cls.name}")
        return [
            (tol, cls.search(data.logits, data.labels, data.gates, costs=data.costs, tolerance=tol))
            for tol in (float(t) for t in grid or SEARCH_TOLERANCES)
        ]

    @classmethod
    def selection_grid(cls, kind: str, tolerance: float) -> Sequence[float] | None:
        """Under a tolerance the search runs once, with that tolerance."""
        return (tolerance,) if kind == "per_exit_search" else None

    @classmethod
    def never_exit(cls, num_exits: int) -> ExitPolicy:
        return cls((NEVER_EXIT,) * num_exits)

    @classmethod
    def from_heuristic(
        cls, val_logits: Tensor, labels: Tensor, *, n_bins: int = 15, eps: float = 0.01
    ) -> PerExitThresholds:
        """The paper's heuristic (see :func:`heuristic_thresholds`) on validation logits.

        ``val_logits (E, N, C)`` must already be calibrated (the heuristic needs calibration);
        ``acc_i`` and ``ECE_i`` (max softmax, ``n_bins`` equal-width bins) are measured per exit.
        """
        check_logits(val_logits, labels)
        labels = labels.to(val_logits.device)
        probs = torch.softmax(val_logits.float(), dim=-1)  # (E, N, C)
        accs = [float((p.argmax(-1) == labels).float().mean()) for p in probs]
        eces = [expected_calibration_error(p, labels, n_bins) for p in probs]
        return cls(thresholds=tuple(heuristic_thresholds(accs, eces, eps)))

    @classmethod
    def search(
        cls,
        val_logits: Tensor,
        labels: Tensor,
        gates: Gates = None,
        *,
        costs: Sequence[float] | Tensor | None = None,
        tolerance: float = 0.0,
        num_candidates: int = 20,
        max_rounds: int = 3,
    ) -> PerExitThresholds:
        """Coordinate search for per-exit thresholds under an accuracy constraint.

        Starts from "never exit early" (all thresholds :data:`NEVER_EXIT`, which meets the
        constraint) and, for up to ``max_rounds`` sweeps over exits ``0 .. E-2`` in depth
        order, sets each threshold to the candidate that minimises expected cost while
        validation accuracy stays ``>= final-exit accuracy - tolerance`` (ties: higher
        accuracy). Candidates for exit e are the ``num_candidates + 1`` quantiles of that exit's
        validation confidence, plus :data:`NEVER_EXIT`. Stops early when a sweep changes nothing.

        Args:
            val_logits: ``(E, N, C)`` calibrated validation logits.
            labels: ``(N,)``.
            gates: per-exit gate logits (see :func:`docexit.models.policies.replay.simulate`).
            costs: ``(E,)`` cost of reaching each exit (fraction of the full forward); default
                ``(e + 1) / E``.
            tolerance: allowed accuracy drop against the final exit.
        """
        check_logits(val_logits, labels)
        search = _CoordinateSearch(val_logits, labels, gates, costs, tolerance)
        qs = torch.linspace(0.0, 1.0, num_candidates + 1, dtype=torch.float64)
        grids = [
            torch.cat([torch.quantile(search.scores[e], qs), torch.tensor([NEVER_EXIT])]).unique()
            for e in range(search.num_exits - 1)
        ]
        for _ in range(max_rounds):
            if not search.sweep(grids):
                break
        return cls(thresholds=tuple(search.thresholds.tolist()))


class _CoordinateSearch:
    """State of :meth:`PerExitThresholds.search`: the best thresholds so far, their accuracy
    and cost, and the vectorised replay that scores a trial."""

    def __init__(
        self,
        logits: Tensor,
        labels: Tensor,
        gates: Gates,
        costs: Sequence[float] | Tensor | None,
        tolerance: float,
    ) -> None:
        self.num_exits = logits.shape[0]
        self.scores, self.correct = scores_and_correct(logits, labels, gates)  # (E, N), (E, N)
        self.cost = costs_tensor(costs, self.num_exits)  # (E,)
        self.target = float(self.correct[-1].float().mean()) - tolerance
        self.thresholds = torch.full((self.num_exits,), NEVER_EXIT, dtype=torch.float64)
        self.best_acc, self.best_cost = self.evaluate(self.thresholds)

    def evaluate(self, thresholds: Tensor) -> tuple[float, float]:
        """Accuracy and mean cost of ``thresholds (E,)`` on the validation pages."""
        exit_idx = first_passing_exit(self.scores, thresholds)  # (N,)
        acc = float(self.correct.gather(0, exit_idx[None]).float().mean())
        return acc, float(self.cost[exit_idx].mean())

    def sweep(self, grids: Sequence[Tensor]) -> bool:
        """One pass over exits ``0 .. E-2``; True when a threshold changed."""
        changed = False
        for e in range(self.num_exits - 1):
            for cand in grids[e].tolist():
                if cand == float(self.thresholds[e]):
                    continue
                trial = self.thresholds.clone()
                trial[e] = cand
                acc, c = self.evaluate(trial)
                if acc < self.target - 1e-12:
                    continue
                if c < self.best_cost - 1e-12 or (
                    abs(c - self.best_cost) <= 1e-12 and acc > self.best_acc
                ):
                    self.thresholds, self.best_acc, self.best_cost = trial, acc, c
                    changed = True
        return changed
