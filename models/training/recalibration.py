"""Recalibrate a trained model on labelled pages of the user's own archive.

Temperatures, confidence maps, exit policy and visual-exit threshold are fitted on synthetic
validation pages, and on real scans they do not carry over: out of fold, the adapted model's
early exits are more overconfident after that calibration than before it. `fit` refits all
four on the logits of labelled archive pages (`store` writes them into the model); the weights
are untouched.

`cross_fit` first measures what that gains, honestly, on those same pages: each fold's pages
are scored with a calibration, policy and threshold fitted on the other folds only, next to the
calibration the model came with.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from docexit.models.calibration import apply_temperatures, chance_eces, confidence_ece
from docexit.models.model import EarlyExitModel
from docexit.models.policies import policy_from_dict, simulate
from docexit.models.report_json import Report
from docexit.models.tokenizer import featurizer_for
from docexit.models.training.dataset import PageDataset
from docexit.models.training.evaluation import exit_names, fit_calibration_and_policy
from docexit.models.training.metrics import (
    ece_change_interval,
    paired_bootstrap,
    reported_confidence,
)
from docexit.models.training.plots import plot_reliability_series
from docexit.models.training.review import ReviewRow, mean_risk_coverage, risk_coverage
from docexit.models.training.trainer import collect_logits
from docexit.models.training.visual_training import (
    InkPages,
    combine,
    select_visual_threshold,
    visual_logits,
)


@dataclass(frozen=True)
class ArchiveLogits:
    """A model's outputs on labelled archive pages, in page order: logits (E, N, C), gates
    (E, N, 2) or None, labels (N,), and the visual exit's logits (N, C) or None."""

    logits: torch.Tensor
    gates: torch.Tensor | None
    labels: torch.Tensor
    visual: torch.Tensor | None

    @classmethod
    def concat(cls, parts: Sequence[ArchiveLogits]) -> ArchiveLogits:
        """The pages of every part, in order."""
        first = parts[0]
        return cls(
            torch.cat([p.logits for p in parts], dim=1),
            None if first.gates is None else torch.cat([p.gates for p in parts], dim=1),
            torch.cat([p.labels for p in parts]),
            None if first.visual is None else torch.cat([p.visual for p in parts]),
        )

    def save(self, path: Path, content_hashes: Sequence[str]) -> None:
        """Write the outputs (safetensors) with the content hash of each page, in order."""
        outputs = {"logits": self.logits, "gates": self.gates, "visual": self.visual}
        tensors = {k: v.float().contiguous() for k, v in outputs.items() if v is not None}
        tensors["labels"] = self.labels.contiguous()
        metadata = {"content_hashes": json.dumps(list(content_hashes))}
        save_file(tensors, str(path), metadata=metadata)

    @classmethod
    def load(cls, path: Path) -> tuple[ArchiveLogits, list[str]]:
        """Outputs written by `save`, and the content hash of each page."""
        with safe_open(str(path), framework="pt") as f:
            keys = set(f.keys())
            tensors = {k: f.get_tensor(k) for k in keys}
            hashes = json.loads(f.metadata()["content_hashes"])
        return (
            cls(tensors["logits"], tensors.get("gates"), tensors["labels"], tensors.get("visual")),
            hashes,
        )

    def take(self, rows: torch.Tensor) -> ArchiveLogits:
        """The pages at `rows` (long indices), same order."""
        return ArchiveLogits(
            self.logits[:, rows],
            None if self.gates is None else self.gates[:, rows],
            self.labels[rows],
            None if self.visual is None else self.visual[rows],
        )


def model_outputs(model: EarlyExitModel, pages: pa.Table, batch_size: int = 16) -> ArchiveLogits:
    """Every exit's raw logits and the visual exit's (if any) on a corpus table's pages."""
    featurizer = featurizer_for(model)
    logits, gates, labels = collect_logits(
        model, PageDataset(pages, featurizer, model.label_names), batch_size, model.device
    )  # (E, N, C), (E, N, 2) or None, (N,)
    visual = None
    if model.visual_exit is not None:
        images = (Image.open(io.BytesIO(png)) for png in pages.column("image_png").to_pylist())
        ink = InkPages.from_images(images, labels, model.visual_exit.image_size)
        visual = visual_logits(model.visual_exit, ink)  # (N, C)
    return ArchiveLogits(logits, gates, labels, visual)


@dataclass(frozen=True)
class Calibration:
    """Everything `fit` fits, stored in a model config as they are here. `policy` None (a model
    that never chose one): every page runs to the final exit."""

    temperatures: list[float]
    confidence_maps: list[list[float]]
    policy: dict[str, Any] | None
    visual_temperature: float | None = None
    visual_threshold: float | None = None

    @classmethod
    def of_model(cls, model: EarlyExitModel) -> Calibration:
        """The calibration a model came with."""
        visual = model.config.visual_exit or {}
        return cls(
            list(model.config.temperatures),
            [list(m) for m in model.confidence_maps],
            dict(model.config.policy) if model.config.policy else None,
            visual.get("temperature"),
            visual.get("threshold"),
        )


@dataclass(frozen=True)
class Headline(Report):
    """What one calibration does to a set of pages, in the figures every report quotes: the
    accuracy at full depth, with early exit and with the exit before OCR too, the share of
    pages skipping OCR, the mean exit layer, and the ECE of the confidence the pipeline writes."""

    n: int
    accuracy_full: float
    accuracy_early_exit: float
    accuracy_with_visual_exit: float
    skip_ocr_share: float
    mean_exit_layer: float
    # None in reports written before they existed (their JSON lacks the keys)
    reported_ece: float | None = None
    reported_ece_by_chance: float | None = None  # a perfectly calibrated model, by chance
    # the 95th percentile of that chance ECE: a measured ECE below it is consistent with
    # perfect calibration on these pages
    reported_ece_by_chance_95: float | None = None

    OPTIONAL = ("reported_ece", "reported_ece_by_chance", "reported_ece_by_chance_95")

    @classmethod
    def mean(cls, headlines: Sequence[Headline]) -> Headline:
        """Each figure's mean over `headlines` (`n` too, so a float); None where some lack it
        (reports written before the figure existed)."""
        values = {f.name: [getattr(h, f.name) for h in headlines] for f in fields(cls)}
        return cls(
            **{
                name: None if None in figures else float(np.mean(figures))
                for name, figures in values.items()
            }
        )


@dataclass(frozen=True)
class Outcomes:
    """What one calibration does to a set of pages: per exit (E, N), the confidence after the
    temperature alone, the confidence it reports (temperature, then map) and correctness; the
    policy's predictions and exit index (N,); with the visual exit, the whole system's
    predictions and which pages skip OCR (N,)."""

    temperature_confidence: torch.Tensor
    confidence: torch.Tensor
    correct: torch.Tensor
    predictions: torch.Tensor
    exit_index: torch.Tensor
    system_predictions: torch.Tensor
    skips_ocr: torch.Tensor
    reported: torch.Tensor  # (N,) the confidence the pipeline writes: its exit's, or the visual's

    PER_EXIT = ("temperature_confidence", "confidence", "correct")  # (E, N); the rest (N,)

    @classmethod
    def concat(cls, parts: Sequence[Outcomes]) -> Outcomes:
        """The pages of `parts`, one after the other."""
        return cls(
            **{
                name: torch.cat([getattr(p, name) for p in parts], dim=int(name in cls.PER_EXIT))
                for name in cls.__dataclass_fields__
            }
        )

    def headline(self, labels: torch.Tensor, exit_layers: Sequence[int]) -> Headline:
        """The figures every report quotes, against the pages' `labels (N,)`."""
        system_correct = self.system_predictions == labels  # (N,)
        by_chance = chance_eces(self.reported)  # (D,)
        return Headline(
            n=int(labels.numel()),
            accuracy_full=float(self.correct[-1].float().mean()),
            accuracy_early_exit=float((self.predictions == labels).float().mean()),
            accuracy_with_visual_exit=float(system_correct.float().mean()),
            skip_ocr_share=float(self.skips_ocr.float().mean()),
            mean_exit_layer=float(torch.tensor(exit_layers)[self.exit_index].float().mean()),
            reported_ece=confidence_ece(self.reported, system_correct),
            reported_ece_by_chance=float(by_chance.mean()),
            reported_ece_by_chance_95=float(by_chance.quantile(0.95)),
        )

    def take(self, rows: torch.Tensor) -> Outcomes:
        """The pages at `rows` (N',), in that order."""
        return Outcomes(
            **{
                name: getattr(self, name)[:, rows]
                if name in self.PER_EXIT
                else getattr(self, name)[rows]
                for name in self.__dataclass_fields__
            }
        )


def fit(
    model: EarlyExitModel,
    pages: ArchiveLogits,
    *,
    kind: str = "auto",
    tolerance: float = 0.0,
    confidence: float | None = 0.9,
    visual_min_threshold: float = 0.95,
) -> Calibration:
    """Temperatures, confidence maps and policy fitted on `pages`, then the visual exit's
    temperature and threshold against that policy's predictions on the same pages."""
    temperatures, maps, selected = fit_calibration_and_policy(
        pages.logits,
        pages.gates,
        pages.labels,
        model.exit_layers,
        model.num_layers,
        kind,
        tolerance,
        confidence,
    )
    if pages.visual is None:
        return Calibration(temperatures, maps, selected.policy.to_dict())
    calibrated = apply_temperatures(pages.logits, temperatures)  # (E, N, C)
    predictions = simulate(selected.policy, calibrated, pages.gates).predictions  # (N,)
    visual = select_visual_threshold(
        pages.visual,
        predictions,
        pages.labels,
        tolerance=tolerance,
        confidence=confidence,
        min_threshold=visual_min_threshold,
    )
    return Calibration(
        temperatures, maps, selected.policy.to_dict(), visual.temperature, visual.threshold
    )


def apply(calibration: Calibration, pages: ArchiveLogits) -> Outcomes:
    """Score `pages` as the pipeline would under `calibration`."""
    calibrated = apply_temperatures(pages.logits, calibration.temperatures)  # (E, N, C)
    temperature_confidence = reported_confidence(calibrated, pages.labels)[0]  # (E, N)
    confidence, correct = reported_confidence(
        calibrated, pages.labels, None, calibration.confidence_maps
    )  # (E, N) each
    if calibration.policy is not None:
        result = simulate(policy_from_dict(calibration.policy), calibrated, pages.gates)
        predictions, exit_index = result.predictions, result.exit_index  # (N,) each
    else:
        predictions = calibrated[-1].argmax(dim=-1)  # (N,)
        exit_index = torch.full_like(pages.labels, len(calibrated) - 1)
    system, skips = predictions, torch.zeros_like(pages.labels, dtype=torch.bool)
    reported = confidence.gather(0, exit_index[None])[0]  # (N,) at each page's exit
    if pages.visual is not None and calibration.visual_temperature is not None:
        visual_probs = (pages.visual / calibration.visual_temperature).softmax(dim=-1)  # (N, C)
        system, skips = combine(visual_probs, predictions, calibration.visual_threshold)
        reported = torch.where(skips, visual_probs.max(dim=-1).values, reported)
    return Outcomes(
        temperature_confidence,
        confidence,
        correct,
        predictions,
        exit_index,
        system,
        skips,
        reported,
    )


def cross_fit(
    model: EarlyExitModel,
    pages: ArchiveLogits,
    folds: np.ndarray,
    prepare: Callable[[torch.Tensor], ArchiveLogits] | None = None,
    **fit_options: Any,
) -> tuple[Outcomes, list[Calibration]]:
    """Every page scored by a calibration fitted on the other folds: `folds (N,)` fold per page.
    `prepare(rows)`, when given, turns every page's outputs into those to calibrate, from what
    the pages at `rows` (the other folds) show alone (e.g. pooling with a text prior).
    Returns the out-of-fold outcomes in page order and each fold's calibration."""
    calibrations, parts, order = [], [], []
    for fold in np.unique(folds):
        held_out = torch.from_numpy(np.flatnonzero(folds == fold))
        rest = torch.from_numpy(np.flatnonzero(folds != fold))
        source = pages if prepare is None else prepare(rest)
        fitted = fit(model, source.take(rest), **fit_options)
        calibrations.append(fitted)
        parts.append(apply(fitted, source.take(held_out)))
        order.append(held_out)
    in_page_order = torch.argsort(torch.cat(order))  # (N,) where each page sits in the parts
    return Outcomes.concat(parts).take(in_page_order), calibrations


@dataclass(frozen=True)
class ComparisonExit(Report):
    """One exit, shipped vs archive calibration out of fold: ECE of each and a 90% paired
    bootstrap interval of the change."""

    name: str
    layer: int
    accuracy: float
    ece_shipped: float
    ece_archive: float
    ece_change_90ci: tuple[float, float]
    accuracy_archive: float | None = None  # when the archive calibration changes labels

    OPTIONAL = ("accuracy_archive",)


@dataclass(frozen=True)
class RiskCoverage(Report):
    """The review table (`ReviewRow` per --min-confidence) under each calibration."""

    shipped: tuple[ReviewRow, ...]
    archive: tuple[ReviewRow, ...]  # mean over the fold assignments


@dataclass(frozen=True)
class FloorComparison(Report):
    """The shipped pipeline (its policy, the exit before OCR as calibrated) under the archive
    calibration, out of fold, against a text-only floor on the same pages: accuracies and the
    95% paired bootstrap interval of the difference."""

    floor: str
    floor_accuracy: float
    accuracy: float  # mean over the fold assignments
    difference: float
    difference_95ci: tuple[float, float]


def against_floor(
    archive: Sequence[Outcomes], labels: torch.Tensor, floor_correct: np.ndarray, floor: str
) -> FloorComparison:
    """`archive`'s cross-fittings (one per fold assignment) against the floor's out-of-fold
    correctness (N,) on the same pages, paired page by page."""
    right = torch.stack([o.system_predictions == labels for o in archive]).float()  # (R, N)
    page_right = right.mean(0).numpy()  # (N,) share of the assignments right on each page
    difference, low, high = paired_bootstrap(page_right - floor_correct.astype(np.float64))
    return FloorComparison(
        floor=floor,
        floor_accuracy=float(floor_correct.mean()),
        accuracy=float(page_right.mean()),
        difference=float(difference[0]),
        difference_95ci=(float(low[0]), float(high[0])),
    )


@dataclass(frozen=True, kw_only=True)
class ComparisonReport(Report):
    """The model's own calibration vs the archive's, out of fold, on the same pages
    (`calibration.json`, `archive_report` in training.json): `archive` is the mean of the
    `repeats`, one cross-fitting per fold assignment (`fold_seeds`). The optional parts are
    None in reports written before they existed."""

    folds: int | None = None
    fold_seeds: tuple[int, ...] | None = None
    n: int
    num_layers: int
    accuracy_full: float
    shipped: Headline
    archive: Headline
    repeats: tuple[Headline, ...] | None = None
    exits: tuple[ComparisonExit, ...]
    risk_coverage: RiskCoverage | None = None
    floor: FloorComparison | None = None

    OPTIONAL = ("folds", "fold_seeds", "repeats", "risk_coverage", "floor")


def comparison_report(
    model: EarlyExitModel,
    pages: ArchiveLogits,
    shipped: Outcomes,
    archive: Sequence[Outcomes],
    *,
    folds: int,
    fold_seeds: Sequence[int],
) -> ComparisonReport:
    """The model's own calibration vs the archive's, out of fold, on the same pages. `archive`
    holds one cross-fitting per fold assignment (`folds` folds dealt with each of
    `fold_seeds`); figures are their means, with each one's headline figures under
    `repeats`."""
    labels = pages.labels
    headline = shipped.headline(labels, model.exit_layers)
    repeats = tuple(outcomes.headline(labels, model.exit_layers) for outcomes in archive)
    exits = []
    for e, name in enumerate(exit_names(model)):
        archive_confidence = torch.stack([o.confidence[e] for o in archive])  # (R, N)
        archive_correct = torch.stack([o.correct[e] for o in archive])  # (R, N)
        low, high = ece_change_interval(
            shipped.confidence[e],
            archive_confidence,
            shipped.correct[e],
            correct_after=archive_correct,
        )
        relabelled = not torch.equal(archive_correct, shipped.correct[e].expand_as(archive_correct))
        exits.append(
            ComparisonExit(
                name=name,
                layer=model.exit_layers[e],
                accuracy=float(shipped.correct[e].float().mean()),
                ece_shipped=confidence_ece(shipped.confidence[e], shipped.correct[e]),
                ece_archive=confidence_ece(archive_confidence, archive_correct),
                ece_change_90ci=(low, high),
                accuracy_archive=float(archive_correct.float().mean()) if relabelled else None,
            )
        )
    return ComparisonReport(
        folds=folds,
        fold_seeds=tuple(fold_seeds),
        n=headline.n,
        num_layers=model.num_layers,
        accuracy_full=headline.accuracy_full,
        shipped=headline,
        archive=Headline.mean(repeats),
        repeats=repeats,
        exits=tuple(exits),
        risk_coverage=RiskCoverage(
            shipped=risk_coverage(shipped.reported, shipped.system_predictions == labels),
            archive=mean_risk_coverage(
                [risk_coverage(o.reported, o.system_predictions == labels) for o in archive]
            ),
        ),
    )


def store(model: EarlyExitModel, calibration: Calibration) -> None:
    """Write `calibration` into the model's config (and its visual exit's spec)."""
    model.config.temperatures = list(calibration.temperatures)
    model.config.confidence_maps = [list(m) for m in calibration.confidence_maps]
    model.config.policy = dict(calibration.policy)
    if model.visual_exit is not None and calibration.visual_temperature is not None:
        model.visual_exit.spec = {
            **model.visual_exit.spec,
            "temperature": calibration.visual_temperature,
            "threshold": calibration.visual_threshold,
        }
        model.config.visual_exit = model.visual_exit.spec


def plot_comparison(
    model: EarlyExitModel, shipped: Outcomes, archive: Sequence[Outcomes], path: Path
) -> Path:
    """Reliability per exit: the model's own calibration next to the archive's (out of fold,
    pooled over the fold assignments)."""
    repeats = len(archive)
    series = [
        [
            (shipped.confidence[e].repeat(repeats), "as shipped"),
            (
                torch.cat([o.confidence[e] for o in archive]),
                f"archive, out of fold ({repeats} pooled)",
                torch.cat([o.correct[e] for o in archive]),  # its own labels: a prior moves them
            ),
        ]
        for e in range(shipped.confidence.shape[0])
    ]
    return plot_reliability_series(
        series,
        shipped.correct.repeat(1, repeats),  # (E, R * N)
        path,
        exit_names=exit_names(model),
        title="Reliability on archive pages: shipped vs archive calibration",
    )
