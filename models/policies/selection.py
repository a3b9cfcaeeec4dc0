"""Threshold selection under an accuracy constraint, policy evaluation and Pareto sweeps.

Cost model (the paper's simulated measure): reaching an exit placed after encoder layer ``k``
costs ``k / num_layers`` of a full forward; modality exits before the encoder (layer 0) cost a
small ``min_cost``. Measured per-layer costs (e.g. seconds per encoder layer from a benchmark)
can replace the uniform share. ``saving = 1 - expected_cost`` and ``speedup = 1 / expected_cost``.

All functions take *calibrated* logits ``(E, N, C)`` (apply
:func:`docexit.models.calibration.apply_temperatures` first) and replay them through
:func:`docexit.models.policies.simulate`, the engine's own decision path. What a kind's
candidates are (its grid) is the policy class's business (``ExitPolicy.candidates``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Any

import torch
from torch import Tensor

from docexit.models.policies.base import (
    ExitPolicy,
    Gates,
    SearchData,
    policy_from_dict,
    search_class,
    search_kinds,
)
from docexit.models.policies.replay import check_logits, simulate
from docexit.models.report_json import Report

AUTO = "auto"  # select_policy: every kind, the best that meets the constraint

_EPS = 1e-9


def exit_costs(
    exit_layers: Sequence[int],
    num_layers: int,
    *,
    layer_costs: Sequence[float] | None = None,
    embed_cost: float = 0.0,
    min_cost: float = 0.01,
) -> list[float]:
    """Cost of reaching each exit as a fraction of the full forward.

    Args:
        exit_layers: encoder layer of each exit (0 = modality exit before the encoder,
            k = after encoder layer k), ordered by depth.
        num_layers: encoder layers in a full forward.
        layer_costs: optional measured cost of each encoder layer (``num_layers`` values, e.g.
            seconds); default: every layer costs the same.
        embed_cost: measured cost of the embeddings (only used with ``layer_costs``).
        min_cost: floor, so layer-0 exits are not free.

    Returns:
        E floats: ``layer / num_layers`` (uniform) or
        ``(embed_cost + sum(layer_costs[:layer])) / (embed_cost + sum(layer_costs))``,
        each at least ``min_cost``.
    """
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    for layer in exit_layers:
        if not 0 <= layer <= num_layers:
            raise ValueError(f"exit layer {layer} outside [0, {num_layers}]")
    if list(exit_layers) != sorted(exit_layers):
        raise ValueError(f"exit_layers must be ordered by depth, got {list(exit_layers)}")
    if layer_costs is None:
        return [max(layer / num_layers, min_cost) for layer in exit_layers]
    if len(layer_costs) != num_layers or any(c < 0 for c in layer_costs) or embed_cost < 0:
        raise ValueError(f"layer_costs must be {num_layers} non-negative values")
    total = embed_cost + sum(layer_costs)
    if total <= 0:
        raise ValueError("total measured cost must be positive")
    return [max((embed_cost + sum(layer_costs[:k])) / total, min_cost) for k in exit_layers]


@dataclass(frozen=True, kw_only=True)
class PolicySummary(Report):
    """What one policy does to a set of pages (:func:`evaluate_policy`). ``exit_accuracy`` is
    None at an exit no page left at; ``kind`` and ``param`` are set on :func:`sweep` rows
    (and only there in the JSON)."""

    kind: str | None = None
    param: float | None = None
    policy: dict[str, Any]  # the policy's dict
    n: int
    accuracy: float
    full_accuracy: float  # the final exit alone
    accuracy_diff_se: float  # standard error of the paired difference (policy - full depth)
    expected_cost: float  # mean cost of the exits taken, a fraction of the full forward
    saving: float
    speedup: float
    mean_exit_layer: float  # mean encoder layer of the exit taken
    exit_counts: tuple[int, ...]
    exit_fractions: tuple[float, ...]
    exit_accuracy: tuple[float | None, ...]

    OPTIONAL = ("kind", "param")


def evaluate_policy(
    policy: ExitPolicy,
    logits: Tensor,
    labels: Tensor,
    gates: Gates,
    exit_layers: Sequence[int],
    num_layers: int,
    *,
    layer_costs: Sequence[float] | None = None,
) -> PolicySummary:
    """Replay ``logits (E, N, C)`` through ``policy`` and measure accuracy and cost (no pages:
    zeros)."""
    check_logits(logits, labels)
    if len(exit_layers) != logits.shape[0]:
        raise ValueError(f"{len(exit_layers)} exit layers for {logits.shape[0]} exits")
    costs = torch.tensor(exit_costs(exit_layers, num_layers, layer_costs=layer_costs))  # (E,)
    layers = torch.tensor(list(exit_layers), dtype=torch.float64)  # (E,)
    labels = labels.to(logits.device).long()
    n, num_exits = logits.shape[1], logits.shape[0]
    result = simulate(policy, logits, gates)
    idx = result.exit_index.cpu()  # (N,)
    correct = (result.predictions == labels).cpu()  # (N,)
    full_correct = (logits[-1].argmax(-1) == labels).cpu()  # (N,)
    gain = correct.double() - full_correct.double()  # (N,) per-page change vs. full depth
    counts = torch.bincount(idx, minlength=num_exits)  # (E,)
    expected = float(costs[idx].mean()) if n else 0.0
    return PolicySummary(
        policy=policy.to_dict(),
        n=n,
        accuracy=float(correct.float().mean()) if n else 0.0,
        full_accuracy=float(full_correct.float().mean()) if n else 0.0,
        accuracy_diff_se=float(gain.std() / math.sqrt(n)) if n > 1 else 0.0,
        expected_cost=expected,
        saving=1.0 - expected,
        speedup=1.0 / expected if expected > 0 else float("inf"),
        mean_exit_layer=float(layers[idx].mean()) if n else 0.0,
        exit_counts=tuple(counts.tolist()),
        exit_fractions=tuple((counts.double() / max(n, 1)).tolist()),
        exit_accuracy=tuple(
            float(correct[idx == e].float().mean()) if counts[e] > 0 else None
            for e in range(num_exits)
        ),
    )


def never_exit_early(kind: str, num_exits: int) -> ExitPolicy:
    """A policy of ``kind`` that sends every page to the final classifier (saving 0)."""
    return search_class(kind).never_exit(num_exits)


def sweep(
    kind: str,
    logits: Tensor,
    labels: Tensor,
    gates: Gates,
    exit_layers: Sequence[int],
    num_layers: int,
    *,
    candidates: Sequence[float] | None = None,
    layer_costs: Sequence[float] | None = None,
) -> list[PolicySummary]:
    """Evaluate every candidate of ``kind`` (its class's ``candidates``, from ``candidates`` or
    its default grid): one :func:`evaluate_policy` summary per candidate, with ``kind`` and
    ``param`` set, sorted by saving (for Pareto curves)."""
    check_logits(logits, labels)
    costs = exit_costs(exit_layers, num_layers, layer_costs=layer_costs)
    data = SearchData(logits, labels, gates, costs)
    rows = []
    for param, policy in search_class(kind).candidates(kind, data, candidates):
        row = evaluate_policy(
            policy, logits, labels, gates, exit_layers, num_layers, layer_costs=layer_costs
        )
        rows.append(replace(row, kind=kind, param=float(param)))
    return sorted(rows, key=lambda r: (r.saving, r.accuracy))


def pareto_front(rows: Sequence[PolicySummary], x: str = "saving") -> list[tuple[float, float]]:
    """Non-dominated ``(x, accuracy)`` points of sweep rows (higher is better on both)."""
    points = sorted({(float(getattr(r, x)), float(r.accuracy)) for r in rows}, key=lambda p: -p[0])
    front: list[tuple[float, float]] = []
    best = float("-inf")
    for px, acc in points:
        if acc > best:
            front.append((px, acc))
            best = acc
    return sorted(front)


@dataclass(frozen=True)
class SelectedPolicy:
    """Result of :func:`select_policy`.

    Attributes:
        policy: the chosen policy.
        val_accuracy: its accuracy on the validation logits.
        full_accuracy: the final exit's validation accuracy.
        expected_cost: mean cost of the exits taken (fraction of the full forward).
        saving: ``1 - expected_cost``.
        kind: the policy kind searched.
        param: the grid parameter of the chosen candidate (None for the fallback).
        fallback: True when no candidate met the constraint and the never-exit-early policy of
            this kind was returned.
    """

    policy: ExitPolicy
    val_accuracy: float
    full_accuracy: float
    expected_cost: float
    saving: float
    kind: str = ""
    param: float | None = None
    fallback: bool = False


def select_policy(
    kind: str,
    val_logits: Tensor,
    val_labels: Tensor,
    gates: Gates,
    exit_layers: Sequence[int],
    num_layers: int,
    tolerance: float = 0.0,
    candidates: Sequence[float] | None = None,
    *,
    layer_costs: Sequence[float] | None = None,
    confidence: float | None = None,
) -> SelectedPolicy:
    """Pick the candidate of ``kind`` with the highest saving whose validation accuracy is
    ``>= final-exit accuracy - tolerance`` (ties: higher accuracy).

    ``val_logits (E, N, C)`` must be calibrated. ``kind`` is one of :func:`search_kinds`, or
    :data:`AUTO` for the best qualifying policy of all kinds (ties: the lower ``auto_rank``);
    for ``per_exit_search`` the search itself runs under ``tolerance`` (``candidates`` then
    lists tolerances to try, default just ``tolerance``). The never-exit-early policy of the kind
    always meets the constraint, so a policy is always returned (``fallback=True`` then).
    With ``confidence`` (e.g. 0.9) the constraint must hold with that one-sided confidence
    under the paired standard error of the accuracy difference, not just on average: a
    validation split of a few hundred pages cannot tell small losses from noise otherwise.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    check_logits(val_logits, val_labels)
    data = (val_logits, val_labels, gates, exit_layers, num_layers)
    if kind == AUTO:  # every family on its default grid; the highest saving that qualifies
        chosen = [
            select_policy(k, *data, tolerance, layer_costs=layer_costs, confidence=confidence)
            for k in search_kinds()
        ]
        return max(chosen, key=lambda c: (not c.fallback, c.saving, c.val_accuracy))
    if candidates is None:
        candidates = search_class(kind).selection_grid(kind, tolerance)
    rows = sweep(kind, *data, candidates=candidates, layer_costs=layer_costs)
    full = rows[0].full_accuracy if rows else 0.0
    z = NormalDist().inv_cdf(confidence) if confidence is not None else 0.0
    ok = [r for r in rows if r.accuracy - z * r.accuracy_diff_se >= full - tolerance - _EPS]
    if ok:
        best = max(ok, key=lambda r: (r.saving, r.accuracy))
        return _selected(kind, policy_from_dict(best.policy), best)
    policy = never_exit_early(kind, val_logits.shape[0])
    return _selected(kind, policy, evaluate_policy(policy, *data, layer_costs=layer_costs))


def _selected(kind: str, policy: ExitPolicy, row: PolicySummary) -> SelectedPolicy:
    """`SelectedPolicy` from a :func:`sweep` row, or from the fallback's
    :func:`evaluate_policy` summary (no ``param``)."""
    return SelectedPolicy(
        policy=policy,
        val_accuracy=row.accuracy,
        full_accuracy=row.full_accuracy,
        expected_cost=row.expected_cost,
        saving=row.saving,
        kind=kind,
        param=row.param,
        fallback=row.param is None,
    )
