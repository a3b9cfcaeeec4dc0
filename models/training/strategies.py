"""Training strategies for the exits: how each exit's loss is weighted and what it learns from.

All strategies see the same `ExitOutputs` (every exit's logits, the final classifier last) and
return one scalar loss. The weighting follows the paper: exit i's loss is in proportion to
1 / (parameters used up to exit i), normalised so that the exits together weigh `gamma`, and the
final classifier weighs `1 - gamma`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from docexit.models.visual_exit import LABEL_SMOOTHING

STRATEGIES: tuple[str, ...] = ("joint", "joint_entropy", "two_stage", "self_distillation")


@dataclass(frozen=True)
class StrategyConfig:
    name: str = "joint"  # one of STRATEGIES
    gamma: float = 0.7  # share of the loss given to the intermediate exits
    entropy_weight: float = 0.1  # joint_entropy: confidence penalty on every exit's softmax
    distill_temperature: float = 2.0  # self_distillation: softening of the teacher (final head)
    distill_alpha: float = 0.5  # self_distillation: share of hard-label CE vs. distillation
    gate_weight: float = 1.0  # weight of each gate head's loss
    visual_weight: float = 0.3  # weight of the visual exit's loss (models with one)

    def __post_init__(self) -> None:
        if self.name not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.name!r}; choose from {STRATEGIES}")
        if not 0.0 <= self.gamma < 1.0:
            raise ValueError("gamma must be in [0, 1)")


def exit_weights(parameters_to_exit: Sequence[int], gamma: float) -> torch.Tensor:
    """(E,) loss weights: intermediate exits share `gamma` in proportion to 1/params, final 1-gamma."""
    inverse = torch.tensor([1.0 / p for p in parameters_to_exit[:-1]], dtype=torch.float32)
    weights = gamma * inverse / inverse.sum() if len(inverse) else inverse
    return torch.cat([weights, torch.tensor([1.0 - gamma if len(inverse) else 1.0])])


def exit_loss(
    logits: torch.Tensor,
    gate_logits: torch.Tensor | None,
    labels: torch.Tensor,
    weights: torch.Tensor,
    config: StrategyConfig,
    stage: str = "joint",
) -> torch.Tensor:
    """The strategy's loss.

    logits: (E, B, C), final classifier last; gate_logits: (E, B, 2) or None; labels: (B,);
    weights: (E,) from `exit_weights`. `stage` is "backbone" or "exits" for the two-stage
    strategy (the trainer freezes the other part), else "joint".
    """
    num_exits, batch, classes = logits.shape
    assert labels.shape == (batch,) and weights.shape == (num_exits,)
    flat_labels = labels.repeat(num_exits)  # (E*B,)
    ce = F.cross_entropy(logits.reshape(-1, classes), flat_labels, reduction="none")
    ce = ce.view(num_exits, batch).mean(dim=1)  # (E,)
    final_ce = ce[-1]
    if config.name == "two_stage" and stage == "backbone":
        return final_ce
    exit_ce = ce[:-1]
    if config.name == "self_distillation":
        exit_ce = config.distill_alpha * exit_ce + (1 - config.distill_alpha) * _distillation(
            logits, config.distill_temperature
        )
    loss = (weights[:-1] * exit_ce).sum()
    if config.name != "two_stage":
        loss = loss + weights[-1] * final_ce
    if config.name == "joint_entropy":
        probs = logits.float().softmax(dim=-1)  # (E, B, C)
        entropy = -(probs * probs.clamp_min(1e-12).log()).sum(dim=-1).mean(dim=1)  # (E,)
        loss = loss - config.entropy_weight * (weights * entropy).sum()
    if gate_logits is not None:
        loss = loss + config.gate_weight * _gate_loss(logits, gate_logits, labels, weights)
    return loss


def visual_exit_loss(
    visual_logits: torch.Tensor, labels: torch.Tensor, config: StrategyConfig, stage: str = "joint"
) -> torch.Tensor:
    """The visual exit's share of the loss: (B, C) logits vs (B,) labels; it learns with the
    exits (not in two-stage's backbone stage, where exit heads are frozen)."""
    if stage == "backbone":
        return visual_logits.new_zeros(())
    return config.visual_weight * F.cross_entropy(
        visual_logits, labels, label_smoothing=LABEL_SMOOTHING
    )


def _distillation(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """(E-1,) KL(teacher || exit) per intermediate exit; the teacher is the final head, detached."""
    teacher = (logits[-1].detach() / temperature).softmax(dim=-1)  # (B, C)
    student = (logits[:-1] / temperature).log_softmax(dim=-1)  # (E-1, B, C)
    kl = (teacher * (teacher.clamp_min(1e-12).log() - student)).sum(dim=-1)  # (E-1, B)
    return kl.mean(dim=1) * temperature**2


def _gate_loss(
    logits: torch.Tensor, gate_logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Gates learn whether the final classifier gets the page right (targets detached)."""
    final_correct = (logits[-1].detach().argmax(dim=-1) == labels).long()  # (B,)
    num_exits = gate_logits.shape[0]
    ce = F.cross_entropy(
        gate_logits.reshape(-1, 2), final_correct.repeat(num_exits), reduction="none"
    ).view(num_exits, -1)  # (E, B)
    return (weights[:num_exits] * ce.mean(dim=1)).sum()
