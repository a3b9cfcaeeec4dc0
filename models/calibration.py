"""Temperature scaling and calibration error for early-exit logits.

Each exit gets one temperature ``T_e`` fitted on validation logits by minimising the negative
log-likelihood of ``softmax(logits / T_e)`` (Guo et al. 2017). Calibrated logits are
``logits / T_e``; everything downstream (policies, thresholds) consumes calibrated logits.

The confidence a page is given (its top label's probability) then passes through the exit's
confidence map ``sigmoid(a * logit(p) + b)``: Platt scaling of the top-label confidence (Gupta
and Ramdas 2022, top-label calibration), fitted on the same validation pages. One temperature
can only soften or sharpen every page alike, so it cannot mend an exit that is overconfident on
its unsure pages and underconfident on its sure ones; the map (slope ``a > 1``) can. It is
monotone, so it changes no label and no exit decision, only the confidence reported.

Conventions: ``logits (E, N, C)`` for E exits ordered by depth (last = final classifier),
``labels (N,)`` long. Everything here is pure: no model, no global state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

MIN_TEMPERATURE = 0.05
MAX_TEMPERATURE = 20.0
# Slopes outside this range would turn a narrow band of validation confidences into a step,
# which pages outside that band (other data, other scans) would then fall off.
MIN_SLOPE = 0.25
MAX_SLOPE = 4.0
IDENTITY_MAP = (1.0, 0.0)
_EPS = 1e-6


def fit_temperature(
    logits: Tensor,
    labels: Tensor,
    *,
    max_iter: int = 100,
    init: float = 1.0,
) -> float:
    """Fit one temperature ``T`` minimising ``NLL(softmax(logits / T), labels)``.

    Optimises ``log T`` (so T stays positive) with L-BFGS and a strong-Wolfe line search, in
    float64. The result is clamped to ``[MIN_TEMPERATURE, MAX_TEMPERATURE]`` = [0.05, 20].

    Args:
        logits: ``(N, C)`` uncalibrated logits of one exit.
        labels: ``(N,)`` integer class labels.
        max_iter: L-BFGS iterations.
        init: starting temperature.

    Returns:
        The fitted temperature (1.0 when there is no data).
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must be (N, C), got shape {tuple(logits.shape)}")
    if labels.shape != logits.shape[:1]:
        raise ValueError(f"labels must be (N,) = {logits.shape[0]}, got {tuple(labels.shape)}")
    if logits.shape[0] == 0:
        return 1.0
    x = logits.detach().to(torch.float64).cpu()  # (N, C)
    y = labels.detach().long().cpu()  # (N,)
    log_t = torch.tensor([math.log(init)], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    t = float(log_t.detach().exp())
    if not math.isfinite(t):
        return 1.0
    return float(min(max(t, MIN_TEMPERATURE), MAX_TEMPERATURE))


def fit_temperatures(logits: Tensor, labels: Tensor, **kwargs: float) -> list[float]:
    """Fit one temperature per exit. ``logits (E, N, C)``, ``labels (N,)`` -> E floats."""
    if logits.ndim != 3:
        raise ValueError(f"logits must be (E, N, C), got shape {tuple(logits.shape)}")
    return [fit_temperature(logits[e], labels, **kwargs) for e in range(logits.shape[0])]


def apply_temperatures(logits: Tensor, temperatures: Sequence[float]) -> Tensor:
    """Calibrated logits ``logits / T_e``: ``(E, N, C)`` and E temperatures -> ``(E, N, C)``."""
    if logits.ndim != 3 or logits.shape[0] != len(temperatures):
        raise ValueError(
            f"need logits (E, N, C) with E == len(temperatures) = {len(temperatures)}, "
            f"got {tuple(logits.shape)}"
        )
    t = torch.as_tensor(list(temperatures), dtype=logits.dtype, device=logits.device)
    if bool((t <= 0).any()):
        raise ValueError(f"temperatures must be positive, got {list(temperatures)}")
    return logits / t[:, None, None]  # (E, N, C)


def map_confidence(confidence: Tensor, confidence_map: Sequence[float]) -> Tensor:
    """``sigmoid(a * logit(p) + b)`` of confidences ``p (N,)`` in [0, 1]; ``(a, b)`` the map."""
    a, b = (float(v) for v in confidence_map)
    if (a, b) == IDENTITY_MAP:
        return confidence
    z = torch.logit(confidence.clamp(_EPS, 1 - _EPS))  # (N,)
    return torch.sigmoid(a * z + b).to(confidence.dtype)


def top_label(calibrated: Tensor, confidence_map: Sequence[float]) -> tuple[Tensor, Tensor]:
    """Reported ``(confidence (N,), label (N,))`` of temperature-scaled logits ``(N, C)``."""
    confidence, label = calibrated.softmax(dim=-1).max(dim=-1)  # (N,), (N,)
    return map_confidence(confidence, confidence_map), label


def _fit_bias(z: Tensor, correct: Tensor, slope: float, init: float) -> float:
    """The bias ``b`` minimising the log-loss of ``sigmoid(slope * z + b)`` against ``correct``."""
    bias = torch.tensor([init], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([bias], lr=1.0, max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(slope * z + bias, correct)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(bias.detach())


def fit_confidence_map(
    confidence: Tensor, correct: Tensor, *, n_bins: int = 15
) -> tuple[float, float]:
    """Fit ``(a, b)`` of ``sigmoid(a * logit(p) + b)`` to whether each page's top label is right.

    Log-loss (Platt scaling) with L-BFGS in float64; the slope is clamped to
    ``[MIN_SLOPE, MAX_SLOPE]`` and the bias refitted for it. The map is kept only when it lowers
    the ECE of these pages; otherwise the identity ``(1, 0)`` is returned (an exit near chance
    has a narrow band of confidences that no bounded slope can spread well).

    Args:
        confidence: ``(N,)`` temperature-scaled top-label probabilities.
        correct: ``(N,)`` bool, whether each page's top label is its true label.
        n_bins: ECE bins of the keep-or-drop check.
    """
    if confidence.shape != correct.shape or confidence.ndim != 1:
        raise ValueError(
            f"confidence and correct must both be (N,), got {tuple(confidence.shape)} "
            f"and {tuple(correct.shape)}"
        )
    y = correct.detach().double().cpu()  # (N,)
    if y.numel() == 0 or bool((y == y[0]).all()):
        return IDENTITY_MAP  # all right or all wrong: no slope to learn
    p = confidence.detach().double().cpu()  # (N,)
    z = torch.logit(p.clamp(_EPS, 1 - _EPS))  # (N,)
    params = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)  # (a, b)
    optimizer = torch.optim.LBFGS([params], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(params[0] * z + params[1], y)
        loss.backward()
        return loss

    optimizer.step(closure)
    a, b = (float(v) for v in params.detach())
    if not (math.isfinite(a) and math.isfinite(b)):
        return IDENTITY_MAP
    if not MIN_SLOPE <= a <= MAX_SLOPE:
        a = min(max(a, MIN_SLOPE), MAX_SLOPE)
        b = _fit_bias(z, y, a, b if math.isfinite(b) else 0.0)
    before = confidence_ece(p, correct, n_bins)
    after = confidence_ece(map_confidence(p, (a, b)), correct, n_bins)
    return (a, b) if after < before else IDENTITY_MAP


def fit_confidence_maps(calibrated: Tensor, labels: Tensor) -> list[tuple[float, float]]:
    """One confidence map per exit: temperature-scaled ``logits (E, N, C)``, ``labels (N,)``."""
    if calibrated.ndim != 3:
        raise ValueError(f"logits must be (E, N, C), got shape {tuple(calibrated.shape)}")
    confidence, prediction = calibrated.float().softmax(dim=-1).max(dim=-1)  # (E, N), (E, N)
    correct = prediction == labels.to(prediction.device)[None]  # (E, N)
    return [fit_confidence_map(confidence[e], correct[e]) for e in range(calibrated.shape[0])]


def nll(logits: Tensor, labels: Tensor) -> float:
    """Mean negative log-likelihood of ``(N, C)`` logits."""
    return float(F.cross_entropy(logits.double(), labels.long()))


@dataclass(frozen=True)
class ReliabilityBins:
    """Equal-width confidence bins over ``[0, 1]`` for reliability diagrams.

    Attributes:
        edges: ``(n_bins + 1,)`` bin edges; bin b is ``(edges[b], edges[b + 1]]``
            (the first bin also holds confidence 0).
        confidence: ``(n_bins,)`` mean confidence per bin (NaN for empty bins).
        accuracy: ``(n_bins,)`` accuracy per bin (NaN for empty bins).
        counts: ``(n_bins,)`` number of samples per bin.
    """

    edges: Tensor
    confidence: Tensor
    accuracy: Tensor
    counts: Tensor

    @property
    def ece(self) -> float:
        """Expected calibration error: ``sum_b |B_b| / N * |acc_b - conf_b|``."""
        n = int(self.counts.sum())
        if n == 0:
            return 0.0
        filled = self.counts > 0
        gap = (self.accuracy[filled] - self.confidence[filled]).abs()
        return float((self.counts[filled].double() * gap).sum() / n)


def reliability_bins_from_confidence(
    confidence: Tensor, correct: Tensor, n_bins: int = 15
) -> ReliabilityBins:
    """Bin ``confidence (N,)`` in ``[0, 1]`` against boolean ``correct (N,)``."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    conf = confidence.detach().double().cpu().clamp(0.0, 1.0)  # (N,)
    hit = correct.detach().double().cpu()  # (N,)
    # Right-closed bins: b = ceil(conf * n_bins) - 1, with conf == 0 going to bin 0.
    idx = (torch.ceil(conf * n_bins).long() - 1).clamp(0, n_bins - 1)  # (N,)
    counts = torch.bincount(idx, minlength=n_bins)  # (n_bins,)
    conf_sum = torch.bincount(idx, weights=conf, minlength=n_bins)
    hit_sum = torch.bincount(idx, weights=hit, minlength=n_bins)
    denom = counts.double()
    nan = torch.full((n_bins,), float("nan"), dtype=torch.float64)
    mean_conf = torch.where(counts > 0, conf_sum / denom.clamp(min=1), nan)
    mean_acc = torch.where(counts > 0, hit_sum / denom.clamp(min=1), nan)
    edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64)
    return ReliabilityBins(edges=edges, confidence=mean_conf, accuracy=mean_acc, counts=counts)


def reliability_bins(probs: Tensor, labels: Tensor, n_bins: int = 15) -> ReliabilityBins:
    """Reliability bins of max-probability confidence. ``probs (N, C)``, ``labels (N,)``."""
    if probs.ndim != 2:
        raise ValueError(f"probs must be (N, C), got shape {tuple(probs.shape)}")
    conf, pred = probs.max(dim=-1)  # (N,), (N,)
    return reliability_bins_from_confidence(conf, pred == labels.to(pred.device), n_bins)


def confidence_ece(confidence: Tensor, correct: Tensor, n_bins: int = 15) -> float:
    """ECE of given confidences against boolean ``correct (N,)``: ``confidence (N,)``, or
    ``(R, N)`` for R versions of the same pages (e.g. repeated cross-fitting), whose ECE is the
    mean over R; ``correct`` may be ``(R, N)`` too, when the versions' labels differ. The one
    ECE of confidences that training-time reports use."""
    versions = confidence if confidence.ndim == 2 else confidence[None]  # (R, N)
    rights = correct if correct.ndim == 2 else correct[None].expand(len(versions), -1)  # (R, N)
    eces = [
        reliability_bins_from_confidence(v, r, n_bins).ece
        for v, r in zip(versions, rights, strict=True)
    ]
    return sum(eces) / len(eces)


def chance_eces(confidence: Tensor, n_bins: int = 15, draws: int = 200, seed: int = 0) -> Tensor:
    """(draws,) the ECEs a perfectly calibrated model reporting `confidence (N,)` shows by
    chance on N pages, each page right with probability its confidence in each draw."""
    generator = torch.Generator().manual_seed(seed)
    p = confidence.detach().double().cpu()  # (N,)
    right = torch.rand(draws, p.numel(), generator=generator, dtype=torch.float64) < p  # (D, N)
    return torch.tensor([confidence_ece(p, r, n_bins) for r in right], dtype=torch.float64)


def chance_ece(confidence: Tensor, n_bins: int = 15, draws: int = 200, seed: int = 0) -> float:
    """The ECE a perfectly calibrated model reporting `confidence (N,)` shows by chance on N
    pages (mean over `draws`): binned ECE on a few hundred pages is never 0, and this is the
    level below which it says nothing."""
    return float(chance_eces(confidence, n_bins, draws, seed).mean())


def expected_calibration_error(probs: Tensor, labels: Tensor, n_bins: int = 15) -> float:
    """ECE with max-probability confidence and ``n_bins`` equal-width bins.

    ``probs (N, C)`` are probabilities (e.g. ``softmax(logits / T)``), ``labels (N,)``.
    """
    return reliability_bins(probs, labels, n_bins).ece
