"""Confidence scores of one exit's calibrated logits: ``(B, C)`` -> ``(B,)``."""

from __future__ import annotations

import math

import torch
from torch import Tensor


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
