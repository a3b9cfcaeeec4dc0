"""Exit policies: per-page decisions on calibrated exit logits.

A policy is a small immutable dataclass. At exit ``e`` of an ``E``-exit model the engine calls

    exit_now, state = policy.decide(e, logits, gate, state)

with ``logits (B, C)`` already calibrated (``logits / T_e``), ``gate (B, 2)`` for "gate" heads or
``None``, and a per-page :class:`PolicyState`. ``exit_now (B,)`` is a per-page decision; at the
last exit (``e == num_exits - 1``) every page exits. Pages that exit are removed from the batch
(``state.select(keep)``), and batches are refilled with pages from other batches
(``PolicyState.concat``), so policies keep all per-page memory in state tensors, never in
``self``.

Confidence scores (higher = more confident unless stated):

- max-prob policies (:class:`MaxProbThreshold`, :class:`PerExitThresholds`) use
  ``softmax(gate)[:, 1]`` (P(final classifier right)) when a gate is given, else
  ``max softmax(logits)``; a page exits when ``confidence >= threshold``.
- :class:`EntropyThreshold`: normalised entropy ``H(p) / log C <= threshold`` (softmax only).
- :class:`MarginThreshold`: top-1 minus top-2 softmax probability ``>= threshold``.
- :class:`Patience`: the argmax has been the same for ``patience`` consecutive exits.

:func:`simulate` replays stored logits through ``decide`` exactly as the engine does (compacting
the batch as pages exit), so offline threshold selection and online inference agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from docexit.models.calibration import expected_calibration_error

#: Threshold for max-prob / margin scores that no page can reach (scores lie in [0, 1]).
NEVER_EXIT = 1.1

Gates = Tensor | Sequence[Tensor | None] | None


# --------------------------------------------------------------------------------------------
# Confidence scores
# --------------------------------------------------------------------------------------------


def max_prob(logits: Tensor) -> Tensor:
    """Max softmax probability. ``(B, C)`` -> ``(B,)``."""
    return torch.softmax(logits.float(), dim=-1).max(dim=-1).values


def gate_prob(gate: Tensor) -> Tensor:
    """Gate confidence ``softmax(gate)[:, 1]`` = P(final classifier right). ``(B, 2)`` -> ``(B,)``."""
    if gate.shape[-1] != 2:
        raise ValueError(f"gate must be (B, 2), got shape {tuple(gate.shape)}")
    return torch.softmax(gate.float(), dim=-1)[..., 1]


def exit_confidence(logits: Tensor, gate: Tensor | None = None) -> Tensor:
    """Confidence used by max-prob policies: gate probability if given, else max softmax."""
    return gate_prob(gate) if gate is not None else max_prob(logits)


def normalized_entropy(logits: Tensor) -> Tensor:
    """Softmax entropy divided by ``log C`` (0 = one-hot, 1 = uniform). ``(B, C)`` -> ``(B,)``."""
    c = logits.shape[-1]
    p = torch.softmax(logits.float(), dim=-1)  # (B, C)
    h = torch.special.entr(p).sum(dim=-1)  # (B,)
    return h / math.log(c) if c > 1 else torch.zeros_like(h)


def top2_margin(logits: Tensor) -> Tensor:
    """Top-1 minus top-2 softmax probability. ``(B, C)`` -> ``(B,)``."""
    p = torch.softmax(logits.float(), dim=-1)  # (B, C)
    if p.shape[-1] < 2:
        return torch.ones(p.shape[:-1], device=p.device)
    top = p.topk(2, dim=-1).values  # (B, 2)
    return top[..., 0] - top[..., 1]


# --------------------------------------------------------------------------------------------
# Per-page state
# --------------------------------------------------------------------------------------------


def _as_index(index: Tensor | Sequence[int] | Sequence[bool]) -> Tensor:
    idx = index if isinstance(index, Tensor) else torch.as_tensor(index)
    if idx.dtype != torch.bool:
        idx = idx.long()
    return idx


@dataclass
class PolicyState:
    """Per-page policy memory: named tensors whose first dimension is the batch.

    Supports the engine's batch compaction (:meth:`select`) and refill (:meth:`concat`).
    Stateless policies carry an empty ``tensors`` dict and only track ``batch_size``.
    """

    batch_size: int
    tensors: dict[str, Tensor]

    def __post_init__(self) -> None:
        for name, t in self.tensors.items():
            if t.shape[:1] != (self.batch_size,):
                raise ValueError(
                    f"state tensor {name!r} has shape {tuple(t.shape)}, "
                    f"expected first dim {self.batch_size}"
                )

    def __len__(self) -> int:
        return self.batch_size

    def select(self, index: Tensor | Sequence[int] | Sequence[bool]) -> PolicyState:
        """Keep the pages in ``index`` (boolean mask ``(B,)`` or integer positions ``(K,)``)."""
        idx = _as_index(index)
        if idx.dtype == torch.bool:
            if idx.shape != (self.batch_size,):
                raise ValueError(f"mask must be ({self.batch_size},), got {tuple(idx.shape)}")
            size = int(idx.sum())
        else:
            size = int(idx.numel())
        return PolicyState(size, {k: v[idx.to(v.device)] for k, v in self.tensors.items()})

    @staticmethod
    def concat(states: Sequence[PolicyState]) -> PolicyState:
        """Concatenate the pages of several states (same policy) into one batch state."""
        if not states:
            raise ValueError("concat needs at least one state")
        keys = set(states[0].tensors)
        for s in states[1:]:
            if set(s.tensors) != keys:
                raise ValueError(f"state keys differ: {sorted(keys)} vs {sorted(s.tensors)}")
        return PolicyState(
            sum(s.batch_size for s in states),
            {k: torch.cat([s.tensors[k] for s in states], dim=0) for k in sorted(keys)},
        )

    def to(self, device: torch.device | str) -> PolicyState:
        """Move every state tensor to ``device``."""
        return PolicyState(self.batch_size, {k: v.to(device) for k, v in self.tensors.items()})


# --------------------------------------------------------------------------------------------
# Policies
# --------------------------------------------------------------------------------------------

_REGISTRY: dict[str, type[ExitPolicy]] = {}


def _register(cls: type[ExitPolicy]) -> type[ExitPolicy]:
    _REGISTRY[cls.name] = cls
    return cls


class ExitPolicy:
    """Base class: shared validation and the last-exit rule. Subclasses are frozen dataclasses."""

    name: ClassVar[str] = ""
    num_exits: int

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> PolicyState:
        """Fresh state for ``batch_size`` pages that have not reached any exit yet."""
        return PolicyState(batch_size, {})

    def decide(
        self, exit_index: int, logits: Tensor, gate: Tensor | None, state: PolicyState
    ) -> tuple[Tensor, PolicyState]:
        """Per-page exit decision at ``exit_index``: ``(B, C)`` calibrated logits -> ``(B,)`` bool."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description; :func:`policy_from_dict` inverts it."""
        raise NotImplementedError

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExitPolicy:
        """Build from :meth:`to_dict` output (without the ``name`` key)."""
        return cls(**d)

    # helpers -----------------------------------------------------------------------------

    def _check(self, exit_index: int, logits: Tensor, gate: Tensor | None, state: PolicyState):
        if not 0 <= exit_index < self.num_exits:
            raise ValueError(f"exit_index {exit_index} outside [0, {self.num_exits})")
        if logits.ndim != 2:
            raise ValueError(f"logits must be (B, C), got shape {tuple(logits.shape)}")
        if logits.shape[0] != len(state):
            raise ValueError(f"batch of {logits.shape[0]} pages but state for {len(state)}")
        if gate is not None and gate.shape != (logits.shape[0], 2):
            raise ValueError(f"gate must be ({logits.shape[0]}, 2), got {tuple(gate.shape)}")

    def _finish(self, exit_index: int, exit_now: Tensor) -> Tensor:
        if exit_index == self.num_exits - 1:
            return torch.ones_like(exit_now, dtype=torch.bool)
        return exit_now.bool()


def _check_num_exits(num_exits: int) -> None:
    if not isinstance(num_exits, int) or num_exits < 1:
        raise ValueError(f"num_exits must be a positive int, got {num_exits!r}")


def _check_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


@dataclass(frozen=True)
class _ScoreThreshold(ExitPolicy):
    """A page exits when one confidence score of its exit passes one global threshold;
    subclasses give the score and whether higher means more confident."""

    threshold: float
    num_exits: int
    higher_is_confident: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _check_finite("threshold", self.threshold)
        _check_num_exits(self.num_exits)

    def score(self, logits: Tensor, gate: Tensor | None) -> Tensor:
        """(B,) score of each page at this exit."""
        raise NotImplementedError

    def decide(
        self, exit_index: int, logits: Tensor, gate: Tensor | None, state: PolicyState
    ) -> tuple[Tensor, PolicyState]:
        self._check(exit_index, logits, gate, state)
        score = self.score(logits, gate)  # (B,)
        exit_now = score >= self.threshold if self.higher_is_confident else score <= self.threshold
        return self._finish(exit_index, exit_now), state

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "threshold": self.threshold, "num_exits": self.num_exits}


@_register
@dataclass(frozen=True)
class MaxProbThreshold(_ScoreThreshold):
    """Exit when ``confidence >= threshold`` (gate prob if a gate is given, else max softmax)."""

    name: ClassVar[str] = "max_prob"

    def score(self, logits: Tensor, gate: Tensor | None) -> Tensor:
        return exit_confidence(logits, gate)


@_register
@dataclass(frozen=True)
class EntropyThreshold(_ScoreThreshold):
    """Exit when the normalised softmax entropy ``H(p) / log C <= threshold``."""

    name: ClassVar[str] = "entropy"
    higher_is_confident: ClassVar[bool] = False

    def score(self, logits: Tensor, gate: Tensor | None) -> Tensor:
        return normalized_entropy(logits)


@_register
@dataclass(frozen=True)
class MarginThreshold(_ScoreThreshold):
    """Exit when the top-1 minus top-2 softmax probability ``>= threshold``."""

    name: ClassVar[str] = "margin"

    def score(self, logits: Tensor, gate: Tensor | None) -> Tensor:
        return top2_margin(logits)


@_register
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
    patience: int
    num_exits: int

    def __post_init__(self) -> None:
        if not isinstance(self.patience, int) or self.patience < 1:
            raise ValueError(f"patience must be an int >= 1, got {self.patience!r}")
        _check_num_exits(self.num_exits)

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> PolicyState:
        return PolicyState(
            batch_size,
            {
                "streak": torch.zeros(batch_size, dtype=torch.long, device=device),
                "last_pred": torch.full((batch_size,), -1, dtype=torch.long, device=device),
            },
        )

    def decide(
        self, exit_index: int, logits: Tensor, gate: Tensor | None, state: PolicyState
    ) -> tuple[Tensor, PolicyState]:
        self._check(exit_index, logits, gate, state)
        pred = logits.argmax(dim=-1)  # (B,)
        last = state.tensors["last_pred"].to(pred.device)  # (B,)
        streak = state.tensors["streak"].to(pred.device)  # (B,)
        streak = torch.where(pred == last, streak + 1, torch.ones_like(streak))  # (B,)
        exit_now = streak >= self.patience  # (B,)
        new_state = PolicyState(len(state), {"streak": streak, "last_pred": pred})
        return self._finish(exit_index, exit_now), new_state

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "patience": self.patience, "num_exits": self.num_exits}


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


@_register
@dataclass(frozen=True)
class PerExitThresholds(ExitPolicy):
    """One max-prob (or gate-prob) threshold per exit: exit at e when ``conf_e >= t_e``.

    ``thresholds`` has one entry per exit (``num_exits = len(thresholds)``); the last entry is
    ignored because the final classifier always exits.
    """

    name: ClassVar[str] = "per_exit"
    thresholds: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))
        if not self.thresholds:
            raise ValueError("thresholds must have one entry per exit")
        for t in self.thresholds:
            _check_finite("threshold", t)

    @property
    def num_exits(self) -> int:  # type: ignore[override]
        return len(self.thresholds)

    def decide(
        self, exit_index: int, logits: Tensor, gate: Tensor | None, state: PolicyState
    ) -> tuple[Tensor, PolicyState]:
        self._check(exit_index, logits, gate, state)
        exit_now = exit_confidence(logits, gate) >= self.thresholds[exit_index]  # (B,)
        return self._finish(exit_index, exit_now), state

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "thresholds": list(self.thresholds)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PerExitThresholds:
        return cls(thresholds=tuple(d["thresholds"]))

    @classmethod
    def from_heuristic(
        cls, val_logits: Tensor, labels: Tensor, *, n_bins: int = 15, eps: float = 0.01
    ) -> PerExitThresholds:
        """The paper's heuristic (see :func:`heuristic_thresholds`) on validation logits.

        ``val_logits (E, N, C)`` must already be calibrated (the heuristic needs calibration);
        ``acc_i`` and ``ECE_i`` (max softmax, ``n_bins`` equal-width bins) are measured per exit.
        """
        _check_logits(val_logits, labels)
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
            gates: per-exit gate logits (see :func:`simulate`).
            costs: ``(E,)`` cost of reaching each exit (fraction of the full forward); default
                ``(e + 1) / E``.
            tolerance: allowed accuracy drop against the final exit.
        """
        _check_logits(val_logits, labels)
        num_exits = val_logits.shape[0]
        scores, correct = _scores_and_correct(val_logits, labels, gates)  # (E, N), (E, N)
        cost = _costs_tensor(costs, num_exits)  # (E,)
        target = float(correct[-1].float().mean()) - tolerance
        thresholds = torch.full((num_exits,), NEVER_EXIT, dtype=torch.float64)

        def evaluate(t: Tensor) -> tuple[float, float]:
            exit_idx = _first_passing_exit(scores, t)  # (N,)
            acc = float(correct.gather(0, exit_idx[None]).float().mean())
            return acc, float(cost[exit_idx].mean())

        best_acc, best_cost = evaluate(thresholds)
        qs = torch.linspace(0.0, 1.0, num_candidates + 1, dtype=torch.float64)
        grids = [
            torch.cat([torch.quantile(scores[e], qs), torch.tensor([NEVER_EXIT])]).unique()
            for e in range(num_exits - 1)
        ]
        for _ in range(max_rounds):
            changed = False
            for e in range(num_exits - 1):
                for cand in grids[e].tolist():
                    if cand == float(thresholds[e]):
                        continue
                    trial = thresholds.clone()
                    trial[e] = cand
                    acc, c = evaluate(trial)
                    if acc < target - 1e-12:
                        continue
                    if c < best_cost - 1e-12 or (abs(c - best_cost) <= 1e-12 and acc > best_acc):
                        thresholds, best_acc, best_cost, changed = trial, acc, c, True
            if not changed:
                break
        return cls(thresholds=tuple(thresholds.tolist()))


@_register
@dataclass(frozen=True)
class AnytimeBudget(ExitPolicy):
    """Wrap a policy with a depth budget: every page exits at exit ``max_exit`` at the latest.

    Before ``max_exit`` the inner policy decides; its state is passed through unchanged.
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

    def decide(
        self, exit_index: int, logits: Tensor, gate: Tensor | None, state: PolicyState
    ) -> tuple[Tensor, PolicyState]:
        exit_now, state = self.inner.decide(exit_index, logits, gate, state)
        if exit_index >= self.max_exit:
            exit_now = torch.ones_like(exit_now, dtype=torch.bool)
        return exit_now, state

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "inner": self.inner.to_dict(), "max_exit": self.max_exit}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnytimeBudget:
        return cls(inner=policy_from_dict(d["inner"]), max_exit=int(d["max_exit"]))


def policy_from_dict(d: dict[str, Any]) -> ExitPolicy:
    """Inverse of ``policy.to_dict()``: ``{"name": ..., **params}`` -> policy."""
    if "name" not in d:
        raise ValueError(f"policy dict needs a 'name' key, got {sorted(d)}")
    params = {k: v for k, v in d.items() if k != "name"}
    try:
        cls = _REGISTRY[d["name"]]
    except KeyError:
        raise ValueError(f"unknown policy {d['name']!r}; known: {sorted(_REGISTRY)}") from None
    return cls.from_dict(params)


# --------------------------------------------------------------------------------------------
# Offline replay
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulationResult:
    """Where each page exits when stored logits are replayed through a policy.

    Attributes:
        exit_index: ``(N,)`` long, exit each page left at (0-based, into the E exits).
        predictions: ``(N,)`` long, argmax at that exit.
        confidence: ``(N,)`` float, :func:`exit_confidence` at that exit (gate prob for gate
            exits, else calibrated max softmax).
    """

    exit_index: Tensor
    predictions: Tensor
    confidence: Tensor


def gate_at(gates: Gates, exit_index: int) -> Tensor | None:
    """Gate logits of one exit from ``gates``: None, a ``(E, N, 2)`` tensor or a per-exit list."""
    if gates is None:
        return None
    return gates[exit_index]


def simulate(policy: ExitPolicy, logits: Tensor, gates: Gates = None) -> SimulationResult:
    """Replay stored calibrated ``logits (E, N, C)`` through ``policy.decide`` exit by exit.

    Only pages still running are passed to ``decide``; after each exit the exited pages are
    dropped and the state is compacted with ``state.select`` — the same path the engine takes.
    ``gates`` is None, a ``(E, N, 2)`` tensor, or a length-E sequence of ``(N, 2)`` / None.
    """
    if logits.ndim != 3:
        raise ValueError(f"logits must be (E, N, C), got shape {tuple(logits.shape)}")
    num_exits, n, _ = logits.shape
    if policy.num_exits != num_exits:
        raise ValueError(f"policy has {policy.num_exits} exits, logits have {num_exits}")
    if gates is not None and len(gates) != num_exits:
        raise ValueError(f"gates must have one entry per exit ({num_exits}), got {len(gates)}")
    device = logits.device
    exit_index = torch.full((n,), num_exits - 1, dtype=torch.long, device=device)
    predictions = torch.zeros(n, dtype=torch.long, device=device)
    confidence = torch.zeros(n, dtype=torch.float32, device=device)
    active = torch.arange(n, device=device)  # (B,) positions of running pages
    state = policy.init_state(n, device)
    for e in range(num_exits):
        if active.numel() == 0:
            break
        lg = logits[e, active]  # (B, C)
        g = gate_at(gates, e)
        g = None if g is None else g.to(device)[active]  # (B, 2)
        exit_now, state = policy.decide(e, lg, g, state)  # (B,)
        done = active[exit_now]
        exit_index[done] = e
        predictions[done] = lg[exit_now].argmax(dim=-1)
        confidence[done] = exit_confidence(lg[exit_now], None if g is None else g[exit_now])
        keep = ~exit_now
        active = active[keep]
        state = state.select(keep)
    return SimulationResult(exit_index=exit_index, predictions=predictions, confidence=confidence)


# --------------------------------------------------------------------------------------------
# Internals shared with thresholds.py
# --------------------------------------------------------------------------------------------


def _check_logits(logits: Tensor, labels: Tensor) -> None:
    if logits.ndim != 3:
        raise ValueError(f"logits must be (E, N, C), got shape {tuple(logits.shape)}")
    if labels.shape != (logits.shape[1],):
        raise ValueError(f"labels must be ({logits.shape[1]},), got {tuple(labels.shape)}")


def _scores_and_correct(logits: Tensor, labels: Tensor, gates: Gates) -> tuple[Tensor, Tensor]:
    """Max-prob confidence ``(E, N)`` (gate prob where given) and correctness ``(E, N)``."""
    scores = torch.stack(
        [exit_confidence(logits[e], gate_at(gates, e)) for e in range(logits.shape[0])]
    ).double()  # (E, N)
    correct = logits.argmax(dim=-1) == labels.to(logits.device)[None]  # (E, N)
    return scores.cpu(), correct.cpu()


def _first_passing_exit(scores: Tensor, thresholds: Tensor) -> Tensor:
    """Vectorised max-prob replay: first e with ``scores[e] >= thresholds[e]`` (last if none)."""
    passes = scores >= thresholds[:, None].to(scores.dtype)  # (E, N)
    passes[-1] = True
    return passes.to(torch.uint8).argmax(dim=0)  # (N,)


def _costs_tensor(costs: Sequence[float] | Tensor | None, num_exits: int) -> Tensor:
    if costs is None:
        return torch.arange(1, num_exits + 1, dtype=torch.float64) / num_exits
    c = torch.as_tensor(costs, dtype=torch.float64).cpu()
    if c.shape != (num_exits,):
        raise ValueError(f"costs must have one entry per exit ({num_exits}), got {tuple(c.shape)}")
    return c
