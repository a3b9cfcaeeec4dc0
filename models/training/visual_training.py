"""Train, calibrate and threshold a model's visual exit (the image-only exit before OCR).

The CNN needs more epochs than the transformer and reads only page images, so after the joint
training (where it learns with the rest, `StrategyConfig.visual_weight`) it is trained on its own
for `epochs` more, on ink maps computed once. Its temperature is fitted on validation, and its
threshold is the lowest one at which the whole system (visual exit, else OCR and the multimodal
early-exit model) is as accurate on validation as the always-OCR system, with the one-sided
`confidence` of `thresholds.select_policy`.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from docexit.corpus.store import first_or_spread, load_split
from docexit.models.calibration import fit_temperature
from docexit.models.device import respect_omp_thread_limit
from docexit.models.model import EarlyExitModel
from docexit.models.training.dataset import model_label_ids
from docexit.models.visual_exit import DEFAULT_VISUAL_EXIT, LABEL_SMOOTHING, VisualExit, ink_map
from docexit.transforms.featurize import image_to_pixels

THRESHOLD_GRID = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.925, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999)


@dataclass(frozen=True)
class InkPages:
    """A split's pages as ink maps for the visual exit: ink (N, 1, s, s), labels (N,)."""

    ink: torch.Tensor
    labels: torch.Tensor

    @classmethod
    def from_split(
        cls,
        corpus_dir: Path,
        split: str,
        image_size: int,
        label_names: list[str],
        limit: int | None = None,
        spread: bool = False,
    ) -> InkPages:
        """One split of a corpus (`limit` pages: its first, or evenly spaced with `spread`),
        in the table's order; labels in the model's class order (`label_names`)."""
        table = first_or_spread(load_split(corpus_dir, split), limit, spread)
        labels = model_label_ids(table, label_names, f"{corpus_dir}'s {split} split")  # (N,)
        images = (Image.open(io.BytesIO(png)) for png in table.column("image_png").to_pylist())
        return cls.from_images(images, torch.from_numpy(labels), image_size)

    @classmethod
    def from_images(
        cls, images: Iterable[Image.Image], labels: torch.Tensor, image_size: int
    ) -> InkPages:
        """Page images (as stored in a corpus) and their labels (N,)."""
        inks, chunk = [], []
        for image in [*images, None]:
            if image is not None:
                chunk.append(image_to_pixels(image))  # (3, 224, 224), the backbone's input
            if chunk and (len(chunk) == 64 or image is None):
                inks.append(ink_map(torch.from_numpy(np.stack(chunk)), image_size))  # (b, 1, s, s)
                chunk = []
        empty = torch.zeros(0, 1, image_size, image_size)
        return cls(torch.cat(inks) if inks else empty, labels)

    def __len__(self) -> int:
        return int(self.labels.numel())


@dataclass(frozen=True)
class VisualEpoch:
    epoch: int
    train_loss: float
    val_accuracy: float
    seconds: float


def add_visual_exit(model: EarlyExitModel, spec: dict[str, Any] | None = None) -> VisualExit:
    """Give `model` a fresh visual exit (replacing any) and record it in its config."""
    model.config.visual_exit = {**DEFAULT_VISUAL_EXIT, **(spec or {})}
    model.visual_exit = VisualExit(model.config.visual_exit, len(model.label_names))
    model.config.visual_exit = model.visual_exit.spec
    return model.visual_exit


@torch.no_grad()
def visual_logits(exit_: VisualExit, pages: InkPages, batch_size: int = 128) -> torch.Tensor:
    """(N, C) uncalibrated logits of the visual exit over `pages`."""
    exit_.eval()
    device = exit_.classifier.weight.device
    return torch.cat(
        [
            exit_.classify_ink(pages.ink[i : i + batch_size].to(device)).float().cpu()
            for i in range(0, len(pages), batch_size)
        ]
        or [torch.zeros(0, exit_.classifier.out_features)]
    )


def train_visual_exit(
    exit_: VisualExit,
    train: InkPages,
    validation: InkPages,
    *,
    epochs: int = 30,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
) -> list[VisualEpoch]:
    """Train the visual exit alone (one-cycle schedule); keeps the best validation epoch."""
    respect_omp_thread_limit()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    device = exit_.classifier.weight.device
    steps = epochs * math.ceil(len(train) / batch_size)
    optimizer = torch.optim.AdamW(exit_.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=max(1, steps))
    history: list[VisualEpoch] = []
    best, best_state = -1.0, None
    progress = tqdm(range(epochs), desc="visual exit")
    for epoch in progress:
        start, total, batches = time.perf_counter(), 0.0, 0
        exit_.train()
        for index in torch.randperm(len(train), generator=generator).split(batch_size):
            logits = exit_.classify_ink(train.ink[index].to(device))  # (b, C)
            loss = F.cross_entropy(
                logits, train.labels[index].to(device), label_smoothing=LABEL_SMOOTHING
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total, batches = total + loss.item(), batches + 1
        accuracy = float(
            (visual_logits(exit_, validation).argmax(-1) == validation.labels).float().mean()
        )
        history.append(
            VisualEpoch(epoch + 1, total / max(1, batches), accuracy, time.perf_counter() - start)
        )
        progress.set_postfix(loss=f"{total / max(1, batches):.3f}", val=f"{accuracy:.3f}")
        if accuracy > best:
            best = accuracy
            best_state = {k: v.detach().clone() for k, v in exit_.state_dict().items()}
    if best_state is not None:
        exit_.load_state_dict(best_state)
    exit_.eval()
    return history


@dataclass(frozen=True)
class VisualSelection:
    """The chosen threshold and what it does on validation."""

    temperature: float
    threshold: float | None  # None: no threshold kept the system's accuracy
    skip_share: float  # share of validation pages that skip OCR
    accuracy: float  # validation accuracy of the whole system with the visual exit
    always_ocr_accuracy: float  # ... and without it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if self.threshold is None:
            return f"visual exit: no threshold keeps the accuracy (T={self.temperature:.3f})"
        return (
            f"visual exit: threshold {self.threshold} (T={self.temperature:.3f}) skips OCR on "
            f"{self.skip_share:.1%} of validation pages; accuracy {self.accuracy:.4f} vs "
            f"always-OCR {self.always_ocr_accuracy:.4f}"
        )


def combine(
    visual_probs: torch.Tensor, system_predictions: torch.Tensor, threshold: float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole system's predictions (N,) and which pages skip OCR (N,) bool.

    visual_probs: (N, C) calibrated; system_predictions: (N,) from OCR + the multimodal model."""
    confidence, label = visual_probs.max(dim=-1)  # (N,), (N,)
    exits = (
        confidence >= threshold
        if threshold is not None
        else torch.zeros_like(confidence, dtype=torch.bool)
    )
    return torch.where(exits, label, system_predictions), exits


def select_visual_threshold(
    visual_logits_: torch.Tensor,
    system_predictions: torch.Tensor,
    labels: torch.Tensor,
    *,
    tolerance: float = 0.0,
    confidence: float | None = 0.9,
    grid: tuple[float, ...] = THRESHOLD_GRID,
    min_threshold: float = 0.0,
) -> VisualSelection:
    """Fit the temperature, then the lowest threshold of `grid` (at least `min_threshold`) whose
    system accuracy is at least the always-OCR accuracy minus `tolerance`, with one-sided
    `confidence` under the paired standard error (as `thresholds.select_policy`), and that lets
    at least one page skip OCR; threshold None when there is none."""
    temperature = fit_temperature(visual_logits_, labels)
    probs = (visual_logits_ / temperature).softmax(dim=-1)  # (N, C)
    base_correct = (system_predictions == labels).double()  # (N,)
    base = float(base_correct.mean())
    z = NormalDist().inv_cdf(confidence) if confidence is not None else 0.0
    n = max(1, labels.numel())
    for threshold in sorted(t for t in grid if t >= min_threshold):
        predictions, exits = combine(probs, system_predictions, threshold)
        correct = (predictions == labels).double()
        gain = correct - base_correct  # (N,) paired difference
        se = float(gain.std() / math.sqrt(n)) if n > 1 else 0.0
        accuracy = float(correct.mean())
        if exits.any() and accuracy - z * se >= base - tolerance - 1e-9:
            return VisualSelection(
                temperature, threshold, float(exits.double().mean()), accuracy, base
            )
    return VisualSelection(temperature, None, 0.0, base, base)


def fit_visual_exit(
    model: EarlyExitModel,
    corpus_dir: Path,
    validation_predictions: torch.Tensor,
    *,
    epochs: int = 30,
    tolerance: float = 0.0,
    confidence: float | None = 0.9,
    seed: int = 0,
    max_train_pages: int | None = None,
    min_threshold: float = 0.0,
) -> tuple[list[VisualEpoch], VisualSelection]:
    """Train the model's visual exit alone (adding one if it has none), then fit its temperature
    and threshold (at least `min_threshold`) against the always-OCR system's validation
    predictions (N,), dataset order. Both are stored in `model.config.visual_exit`."""
    if model.visual_exit is None:
        add_visual_exit(model).to(model.device)
    exit_ = model.visual_exit
    size = exit_.image_size
    validation = InkPages.from_split(
        corpus_dir, "validation", size, model.label_names, len(validation_predictions)
    )
    history: list[VisualEpoch] = []
    if epochs > 0:
        train = InkPages.from_split(
            corpus_dir, "train", size, model.label_names, max_train_pages, spread=True
        )
        history = train_visual_exit(exit_, train, validation, epochs=epochs, seed=seed)
    selection = select_visual_threshold(
        visual_logits(exit_, validation),
        validation_predictions.cpu(),
        validation.labels,
        tolerance=tolerance,
        confidence=confidence,
        min_threshold=min_threshold,
    )
    exit_.spec = {
        **exit_.spec,
        "temperature": selection.temperature,
        "threshold": selection.threshold,
    }
    model.config.visual_exit = exit_.spec
    return history, selection
