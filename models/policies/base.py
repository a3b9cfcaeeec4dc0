"""What every exit policy shares: per-page state, the base class with the final-exit rule, and
the registry (name -> class) that the command line, checkpoints and the threshold search use."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

#: Threshold for max-prob / margin scores that no page can reach (scores lie in [0, 1]).
NEVER_EXIT = 1.1

Gates = Tensor | Sequence[Tensor | None] | None

_REGISTRY: dict[str, type[ExitPolicy]] = {}


def final_exit(exit_now: Tensor, exit_index: int, num_exits: int) -> Tensor:
    """The rule every decision passes through: at the last exit (the final classifier) every
    page exits. ``exit_now (B,)`` -> ``(B,)`` bool."""
    if exit_index == num_exits - 1:
        return torch.ones_like(exit_now, dtype=torch.bool)
    return exit_now.bool()


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


@dataclass(frozen=True)
class SearchData:
    """What a policy's candidates are built from (see :meth:`ExitPolicy.candidates`).

    Attributes:
        logits: ``(E, N, C)`` calibrated validation logits.
        labels: ``(N,)``.
        gates: per-exit gate logits (see :func:`docexit.models.policies.replay.simulate`).
        costs: ``(E,)`` cost of reaching each exit (fraction of the full forward), or None.
    """

    logits: Tensor
    labels: Tensor
    gates: Gates = None
    costs: Sequence[float] | None = None

    @property
    def num_exits(self) -> int:
        return int(self.logits.shape[0])


class ExitPolicy:
    """Base class of every policy; subclasses are frozen dataclasses.

    A subclass with a ``name`` registers itself (:func:`policy_class` finds it) and implements
    :meth:`exits`; :meth:`decide` wraps it with the input checks and :func:`final_exit`. It
    may also give the command line a ``--threshold`` form (:meth:`from_threshold`), the
    threshold a page faced (:meth:`threshold_at`), and a threshold search: the ``kinds``
    :func:`docexit.models.policies.selection.select_policy` can ask it for, their
    :meth:`candidates` and the :meth:`never_exit` fallback.
    """

    name: ClassVar[str] = ""
    #: Search kinds this class answers (usually just its name); empty: never searched.
    kinds: ClassVar[tuple[str, ...]] = ()
    #: Order of the kinds in `select_policy("auto")`: on a tie the lower rank wins.
    auto_rank: ClassVar[int] = 100
    num_exits: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.name:
            return
        known = _REGISTRY.get(cls.name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"two policies named {cls.name!r}: {known} and {cls}")
        _REGISTRY[cls.name] = cls

    # ---- running -------------------------------------------------------------------------

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> PolicyState:
        """Fresh state for ``batch_size`` pages that have not reached any exit yet."""
        return PolicyState(batch_size, {})

    def decide(
        self, exit_index: int, logits: Tensor, gate: Tensor | None, state: PolicyState
    ) -> tuple[Tensor, PolicyState]:
        """Per-page exit decision at ``exit_index``: ``(B, C)`` calibrated logits -> ``(B,)``
        bool (every page at the last exit) and the new state."""
        self._check(exit_index, logits, gate, state)
        exit_now, state = self.exits(exit_index, logits, gate, state)
        return final_exit(exit_now, exit_index, self.num_exits), state

    def exits(
        self, exit_index: int, logits: Tensor, gate: Tensor | None, state: PolicyState
    ) -> tuple[Tensor, PolicyState]:
        """The policy's own decision ``(B,)`` bool and new state (before :func:`final_exit`)."""
        raise NotImplementedError

    def threshold_at(self, exit_index: int) -> float | None:
        """The threshold a page faced at ``exit_index`` (None for threshold-free policies)."""
        return None

    # ---- storing and parsing -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description; :func:`policy_from_dict` inverts it."""
        raise NotImplementedError

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExitPolicy:
        """Build from :meth:`to_dict` output (without the ``name`` key)."""
        return cls(**d)

    @classmethod
    def from_threshold(cls, text: str, num_exits: int) -> ExitPolicy:
        """The policy from ``docexit run --policy NAME --threshold TEXT``."""
        raise ValueError(f"--policy {cls.name} takes no --threshold: pass it as a JSON dict")

    # ---- threshold search ----------------------------------------------------------------

    @classmethod
    def candidates(
        cls, kind: str, data: SearchData, grid: Sequence[float] | None = None
    ) -> list[tuple[float, ExitPolicy]]:
        """``(parameter, policy)`` pairs of ``kind`` (one of ``kinds``) to evaluate, from
        ``grid`` or the class's default grid."""
        raise ValueError(f"policy {cls.name!r} has no threshold search")

    @classmethod
    def selection_grid(cls, kind: str, tolerance: float) -> Sequence[float] | None:
        """The grid `select_policy` uses under an accuracy ``tolerance`` (None: the default)."""
        return None

    @classmethod
    def never_exit(cls, num_exits: int) -> ExitPolicy:
        """A policy of this class that sends every page to the final classifier."""
        raise ValueError(f"policy {cls.name!r} has no never-exit form")

    # ---- helpers -------------------------------------------------------------------------

    def _check(self, exit_index: int, logits: Tensor, gate: Tensor | None, state: PolicyState):
        if not 0 <= exit_index < self.num_exits:
            raise ValueError(f"exit_index {exit_index} outside [0, {self.num_exits})")
        if logits.ndim != 2:
            raise ValueError(f"logits must be (B, C), got shape {tuple(logits.shape)}")
        if logits.shape[0] != len(state):
            raise ValueError(f"batch of {logits.shape[0]} pages but state for {len(state)}")
        if gate is not None and gate.shape != (logits.shape[0], 2):
            raise ValueError(f"gate must be ({logits.shape[0]}, 2), got {tuple(gate.shape)}")


def check_num_exits(num_exits: int) -> None:
    """ValueError unless ``num_exits`` is a positive int."""
    if not isinstance(num_exits, int) or num_exits < 1:
        raise ValueError(f"num_exits must be a positive int, got {num_exits!r}")


def check_finite(name: str, value: float) -> None:
    """ValueError unless ``value`` is finite."""
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


@dataclass(frozen=True)
class ScoreThreshold(ExitPolicy):
    """A page exits when one confidence score of its exit passes one global threshold;
    subclasses give the score, whether higher means more confident, and the default grid."""

    threshold: float
    num_exits: int
    higher_is_confident: ClassVar[bool] = True
    #: Default candidate thresholds of the search.
    grid: ClassVar[tuple[float, ...]] = ()
    #: A threshold no page passes.
    never: ClassVar[float] = NEVER_EXIT

    def __post_init__(self) -> None:
        check_finite("threshold", self.threshold)
        check_num_exits(self.num_exits)

    def score(self, logits: Tensor, gate: Tensor | None) -> Tensor:
        """(B,) score of each page at this exit."""
        raise NotImplementedError

    def exits(
        self, exit_index: int, logits: Tensor, gate: Tensor | None, state: PolicyState
    ) -> tuple[Tensor, PolicyState]:
        score = self.score(logits, gate)  # (B,)
        exit_now = score >= self.threshold if self.higher_is_confident else score <= self.threshold
        return exit_now, state

    def threshold_at(self, exit_index: int) -> float | None:
        return float(self.threshold)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "threshold": self.threshold, "num_exits": self.num_exits}

    @classmethod
    def from_threshold(cls, text: str, num_exits: int) -> ExitPolicy:
        return cls(float(text), num_exits)

    @classmethod
    def candidates(
        cls, kind: str, data: SearchData, grid: Sequence[float] | None = None
    ) -> list[tuple[float, ExitPolicy]]:
        return [(float(t), cls(float(t), data.num_exits)) for t in grid or cls.grid]

    @classmethod
    def never_exit(cls, num_exits: int) -> ExitPolicy:
        return cls(cls.never, num_exits)


def policy_class(name: str) -> type[ExitPolicy]:
    """The registered policy class called ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; known: {sorted(_REGISTRY)}") from None


def policy_from_dict(d: dict[str, Any]) -> ExitPolicy:
    """Inverse of ``policy.to_dict()``: ``{"name": ..., **params}`` -> policy."""
    if "name" not in d:
        raise ValueError(f"policy dict needs a 'name' key, got {sorted(d)}")
    params = {k: v for k, v in d.items() if k != "name"}
    return policy_class(d["name"]).from_dict(params)


def _ranked() -> list[type[ExitPolicy]]:
    return sorted(_REGISTRY.values(), key=lambda cls: cls.auto_rank)


def search_kinds() -> tuple[str, ...]:
    """Every kind the threshold search knows, in `auto` tie order."""
    return tuple(kind for cls in _ranked() for kind in cls.kinds)


def search_class(kind: str) -> type[ExitPolicy]:
    """The policy class that answers search ``kind``."""
    for cls in _ranked():
        if kind in cls.kinds:
            return cls
    raise ValueError(f"unknown kind {kind!r}; known: {search_kinds()}")


def threshold_policy_names() -> tuple[str, ...]:
    """Policies `docexit run --policy NAME --threshold T` can build (the others: JSON only)."""
    return tuple(cls.name for cls in _ranked() if cls.from_threshold.__func__ is not _NO_THRESHOLD)


_NO_THRESHOLD = ExitPolicy.from_threshold.__func__
