"""Exit policies: per-page decisions on calibrated exit logits.

A policy is a small immutable dataclass. At exit ``e`` of an ``E``-exit model the engine calls

    exit_now, state = policy.decide(e, logits, gate, state)

with ``logits (B, C)`` already calibrated (``logits / T_e``), ``gate (B, 2)`` for "gate" heads or
``None``, and a per-page :class:`PolicyState`. ``exit_now (B,)`` is a per-page decision; at the
last exit (``e == num_exits - 1``) every page exits (:func:`final_exit`, applied by
:meth:`ExitPolicy.decide`). Pages that exit are removed from the batch
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

One registry: every policy is one class in one module of this package (``max_prob.py``,
``entropy.py``, ``margin.py``, ``patience.py``, ``per_exit.py``, ``anytime.py``); a subclass of
:class:`ExitPolicy` with a ``name`` registers itself, and every module of the package is imported
here, so a new module is found without being listed. The class also parses its ``--threshold``
(:mod:`.parsing`) and builds its candidates for the threshold search (:mod:`.selection`).
"""

from __future__ import annotations

import importlib
import pkgutil

from docexit.models.policies.anytime import AnytimeBudget
from docexit.models.policies.base import (
    NEVER_EXIT,
    ExitPolicy,
    Gates,
    PolicyState,
    ScoreThreshold,
    SearchData,
    final_exit,
    policy_class,
    policy_from_dict,
    search_class,
    search_kinds,
    threshold_policy_names,
)
from docexit.models.policies.entropy import EntropyThreshold
from docexit.models.policies.margin import MarginThreshold
from docexit.models.policies.max_prob import MaxProbThreshold
from docexit.models.policies.patience import Patience
from docexit.models.policies.per_exit import PerExitThresholds, heuristic_thresholds
from docexit.models.policies.replay import SimulationResult, gate_at, simulate
from docexit.models.policies.scores import (
    exit_confidence,
    gate_prob,
    max_prob,
    normalized_entropy,
    top2_margin,
)

for _module in pkgutil.iter_modules(__path__):  # a policy module registers its class on import
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "NEVER_EXIT",
    "AnytimeBudget",
    "EntropyThreshold",
    "ExitPolicy",
    "Gates",
    "MarginThreshold",
    "MaxProbThreshold",
    "Patience",
    "PerExitThresholds",
    "PolicyState",
    "ScoreThreshold",
    "SearchData",
    "SimulationResult",
    "exit_confidence",
    "final_exit",
    "gate_at",
    "gate_prob",
    "heuristic_thresholds",
    "max_prob",
    "normalized_entropy",
    "policy_class",
    "policy_from_dict",
    "search_class",
    "search_kinds",
    "simulate",
    "threshold_policy_names",
    "top2_margin",
]
