"""Offline replay: stored calibrated logits through a policy, exactly as the engine decides.

:func:`simulate` replays ``(E, N, C)`` logits through ``decide`` exit by exit, compacting the
batch as pages exit, so offline threshold selection and online inference agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from docexit.models.policies.base import ExitPolicy, Gates, final_exit
from docexit.models.policies.scores import exit_confidence


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


def check_logits(logits: Tensor, labels: Tensor) -> None:
    """ValueError unless ``logits`` is ``(E, N, C)`` and ``labels`` ``(N,)``."""
    if logits.ndim != 3:
        raise ValueError(f"logits must be (E, N, C), got shape {tuple(logits.shape)}")
    if labels.shape != (logits.shape[1],):
        raise ValueError(f"labels must be ({logits.shape[1]},), got {tuple(labels.shape)}")


def scores_and_correct(logits: Tensor, labels: Tensor, gates: Gates) -> tuple[Tensor, Tensor]:
    """Max-prob confidence ``(E, N)`` (gate prob where given) and correctness ``(E, N)``."""
    scores = torch.stack(
        [exit_confidence(logits[e], gate_at(gates, e)) for e in range(logits.shape[0])]
    ).double()  # (E, N)
    correct = logits.argmax(dim=-1) == labels.to(logits.device)[None]  # (E, N)
    return scores.cpu(), correct.cpu()


def first_passing_exit(scores: Tensor, thresholds: Tensor) -> Tensor:
    """Vectorised max-prob replay: first e with ``scores[e] >= thresholds[e]`` (last if none)."""
    passes = scores >= thresholds[:, None].to(scores.dtype)  # (E, N)
    passes[-1] = final_exit(passes[-1], len(passes) - 1, len(passes))
    return passes.to(torch.uint8).argmax(dim=0)  # (N,)


def costs_tensor(costs: Sequence[float] | Tensor | None, num_exits: int) -> Tensor:
    """``(E,)`` float64 exit costs: ``costs`` checked, or ``(e + 1) / E``."""
    if costs is None:
        return torch.arange(1, num_exits + 1, dtype=torch.float64) / num_exits
    c = torch.as_tensor(costs, dtype=torch.float64).cpu()
    if c.shape != (num_exits,):
        raise ValueError(f"costs must have one entry per exit ({num_exits}), got {tuple(c.shape)}")
    return c
