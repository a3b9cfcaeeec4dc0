"""Calibrate exits, choose the exit policy on validation data, and evaluate a model on a split.

`report.json` (`docexit evaluate`) is an `EvaluationReport`: accuracy at full depth and with
early exit, mean exit layer, the policy, one `ExitReport` per exit and, with an exit before
OCR, a `VisualExitReport`; plus a reliability diagram and an exit histogram as PNG.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from docexit.models.calibration import (
    apply_temperatures,
    expected_calibration_error,
    fit_confidence_maps,
    fit_temperatures,
)
from docexit.models.device import resolve_device
from docexit.models.model import EarlyExitModel
from docexit.models.policies import policy_from_dict, simulate
from docexit.models.policies.selection import SelectedPolicy, evaluate_policy, select_policy
from docexit.models.report_json import Report
from docexit.models.training.dataset import PageDataset
from docexit.models.training.metrics import (
    accuracy_per_exit,
    ece_change_interval,
    ece_per_exit,
    exit_fractions,
    exit_histogram,
    reported_confidence,
)
from docexit.models.training.plots import plot_exit_histogram, plot_reliability
from docexit.models.training.trainer import collect_logits
from docexit.models.training.visual_training import InkPages, combine, visual_logits


@dataclass(frozen=True)
class CalibrationAndPolicy:
    temperatures: list[float]
    confidence_maps: list[list[float]]
    selected: SelectedPolicy
    predictions: torch.Tensor  # (N,) the chosen policy's validation predictions, dataset order
    labels: torch.Tensor  # (N,)

    def summary(self) -> str:
        s = self.selected
        return (
            f"temperatures {[round(t, 3) for t in self.temperatures]}; confidence maps "
            f"{[[round(v, 3) for v in m] for m in self.confidence_maps]}; policy {s.policy.to_dict()} "
            f"(validation accuracy {s.val_accuracy:.4f} vs full depth {s.full_accuracy:.4f}, "
            f"simulated saving {s.saving:.1%}{', fallback: no early exit' if s.fallback else ''})"
        )

    def to_dict(self) -> dict[str, Any]:
        s = self.selected
        return {
            "temperatures": self.temperatures,
            "confidence_maps": self.confidence_maps,
            "policy": s.policy.to_dict(),
            "val_accuracy": s.val_accuracy,
            "full_accuracy": s.full_accuracy,
            "saving": s.saving,
            "fallback": s.fallback,
        }


@dataclass(frozen=True, kw_only=True)
class ExitReport(Report):
    """One exit on a split: accuracy, ECE before calibration, after the temperature and after
    temperature and confidence map, a paired bootstrap interval of the change, the share of
    pages leaving there. Reports written before confidence maps existed hold the
    temperature-only ECE as `ece_after` and lack the two optional fields."""

    name: str
    layer: int
    source: str
    head: str
    accuracy: float
    ece_before: float
    ece_after_temperature: float | None = None
    ece_after: float
    ece_change_90ci: tuple[float, float] | None = None
    fraction_exiting: float

    OPTIONAL = ("ece_after_temperature", "ece_change_90ci")


@dataclass(frozen=True)
class VisualExitReport(Report):
    """What the exit before OCR does on a split (`accuracy_of_skipped` None: no page skipped;
    `threshold` None: every page goes through OCR)."""

    threshold: float | None
    temperature: float
    accuracy_visual_alone: float
    skip_ocr_share: float
    accuracy_of_skipped: float | None
    accuracy_with_visual_exit: float
    accuracy_always_ocr: float
    ece_before: float
    ece_after: float


@dataclass(frozen=True, kw_only=True)
class EvaluationReport(Report):
    """A model's calibration and policy on a split (`report.json`, the model card's
    evaluations); `visual_exit` None for a model without an exit before OCR,
    `confidence_maps` None in reports written before confidence maps existed."""

    n: int
    accuracy_full: float
    accuracy_early_exit: float
    mean_exit_layer: float
    num_layers: int
    simulated_saving: float
    policy: dict[str, Any]
    temperatures: tuple[float, ...]
    confidence_maps: tuple[tuple[float, ...], ...] | None = None
    exits: tuple[ExitReport, ...]
    visual_exit: VisualExitReport | None = None

    OPTIONAL = ("confidence_maps", "visual_exit")

    def lines(self) -> list[str]:
        """The headline figures, as printed by train and evaluate."""
        lines = [
            f"full-depth accuracy {self.accuracy_full:.4f}, early-exit accuracy "
            f"{self.accuracy_early_exit:.4f}, mean exit layer {self.mean_exit_layer:.2f} "
            f"of {self.num_layers}"
        ]
        visual = self.visual_exit
        if visual is not None:
            lines.append(
                f"visual exit (threshold {visual.threshold}): skips OCR on "
                f"{visual.skip_ocr_share:.1%} of pages, accuracy "
                f"{visual.accuracy_with_visual_exit:.4f} vs always-OCR "
                f"{visual.accuracy_always_ocr:.4f}; image alone {visual.accuracy_visual_alone:.4f}"
            )
        return lines


def exit_names(model: EarlyExitModel) -> list[str]:
    """Readable names of the exits, e.g. `vision@0`, `cls@4`, `final@6`."""
    names = []
    for index, spec in enumerate(model.config.exits):
        last = index == len(model.config.exits) - 1
        names.append(f"{'final' if last else spec['source']}@{spec['layer']}")
    return names


def fit_calibration_and_policy(
    logits: torch.Tensor,
    gates: torch.Tensor | None,
    labels: torch.Tensor,
    exit_layers: list[int],
    num_layers: int,
    kind: str = "max_prob",
    tolerance: float = 0.0,
    confidence: float | None = None,
) -> tuple[list[float], list[list[float]], SelectedPolicy]:
    """One temperature and one confidence map per exit fitted on raw `logits (E, N, C)`, then
    the policy of `kind` with the highest simulated saving whose accuracy on these pages is not
    below full depth minus `tolerance`. Touches no model."""
    temperatures = [float(t) for t in fit_temperatures(logits, labels)]
    calibrated = apply_temperatures(logits, temperatures)  # (E, N, C)
    confidence_maps = [list(m) for m in fit_confidence_maps(calibrated, labels)]
    selected = select_policy(
        kind,
        calibrated,
        labels,
        gates,
        exit_layers,
        num_layers,
        tolerance=tolerance,
        confidence=confidence,
    )
    return temperatures, confidence_maps, selected


def calibrate_and_choose_policy(
    model: EarlyExitModel,
    val_set: PageDataset,
    kind: str = "max_prob",
    tolerance: float = 0.0,
    batch_size: int = 32,
    confidence: float | None = None,
) -> CalibrationAndPolicy:
    """`fit_calibration_and_policy` on the model's validation logits; temperatures, confidence
    maps and policy are stored in `model.config`."""
    device = resolve_device()
    logits, gates, labels = collect_logits(model, val_set, batch_size, device)  # (E, N, C)
    temperatures, confidence_maps, selected = fit_calibration_and_policy(
        logits, gates, labels, model.exit_layers, model.num_layers, kind, tolerance, confidence
    )
    model.config.temperatures = temperatures
    model.config.confidence_maps = confidence_maps
    model.config.policy = selected.policy.to_dict()
    calibrated = apply_temperatures(logits, temperatures)  # (E, N, C)
    predictions = simulate(selected.policy, calibrated, gates).predictions
    return CalibrationAndPolicy(temperatures, confidence_maps, selected, predictions, labels)


def evaluate_logits(
    model: EarlyExitModel,
    logits: torch.Tensor,
    gates: torch.Tensor | None,
    labels: torch.Tensor,
    report_dir: Path,
    visual_logits: torch.Tensor | None = None,
) -> EvaluationReport:
    """The report of stored logits (E, N, C) under the model's calibration and policy; with the
    visual exit's logits (N, C), also what the exit before OCR does. "ECE after" is of the
    confidence the pipeline reports (temperature, then confidence map); "ECE after temperature"
    is of the temperature alone."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    temperatures = model.config.temperatures
    calibrated = apply_temperatures(logits, temperatures)  # (E, N, C)
    policy = policy_from_dict(model.config.policy)
    result = simulate(policy, calibrated, gates)
    summary = evaluate_policy(
        policy, calibrated, labels, gates, model.exit_layers, model.num_layers
    )
    num_exits = logits.shape[0]
    names = exit_names(model)
    maps = model.config.confidence_maps
    fractions = exit_fractions(result.exit_index, num_exits)
    exit_layer_of_page = torch.tensor(model.exit_layers)[result.exit_index]  # (N,)
    visual = None
    if visual_logits is not None and model.config.visual_exit is not None:
        visual = visual_exit_report(
            model.config.visual_exit, visual_logits, result.predictions, labels
        )
    report = EvaluationReport(
        n=int(labels.numel()),
        accuracy_full=accuracy_per_exit(logits, labels)[-1],
        accuracy_early_exit=float((result.predictions == labels).float().mean()),
        mean_exit_layer=float(exit_layer_of_page.float().mean()),
        num_layers=model.num_layers,
        simulated_saving=summary.saving,
        policy=model.config.policy,
        temperatures=tuple(temperatures),
        confidence_maps=tuple(tuple(m) for m in maps),
        exits=exit_reports(model, logits, calibrated, labels, fractions),
        visual_exit=visual,
    )
    plot_reliability(
        logits,
        labels,
        temperatures,
        report_dir / "reliability.png",
        exit_names=names,
        confidence_maps=maps,
    )
    plot_exit_histogram(
        exit_histogram(result.exit_index, num_exits),
        report_dir / "exit_histogram.png",
        exit_names=names,
    )
    (report_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=2))
    return report


def exit_reports(
    model: EarlyExitModel,
    logits: torch.Tensor,
    calibrated: torch.Tensor,
    labels: torch.Tensor,
    fractions: list[float],
) -> tuple[ExitReport, ...]:
    """One report entry per exit: accuracy, ECE before and after calibration (with a paired
    bootstrap interval of the change) and the share of pages leaving there."""
    names = exit_names(model)
    accuracies = accuracy_per_exit(logits, labels)
    maps = model.config.confidence_maps
    confidence_before, correct = reported_confidence(logits, labels)  # (E, N), (E, N)
    confidence_after, _ = reported_confidence(calibrated, labels, None, maps)  # (E, N)
    ece_before = ece_per_exit(logits, labels)
    ece_after_temperature = ece_per_exit(calibrated, labels)
    ece_after = ece_per_exit(calibrated, labels, confidence_maps=maps)
    return tuple(
        ExitReport(
            name=names[e],
            layer=model.exit_layers[e],
            source=model.config.exits[e]["source"],
            head=model.config.exits[e]["head"],
            accuracy=accuracies[e],
            ece_before=ece_before[e],
            ece_after_temperature=ece_after_temperature[e],
            ece_after=ece_after[e],
            # paired bootstrap: does calibration lower ECE beyond this split's noise?
            ece_change_90ci=tuple(
                ece_change_interval(confidence_before[e], confidence_after[e], correct[e])
            ),
            fraction_exiting=fractions[e],
        )
        for e in range(logits.shape[0])
    )


def visual_exit_report(
    spec: dict[str, Any],
    visual_logits: torch.Tensor,
    system_predictions: torch.Tensor,
    labels: torch.Tensor,
) -> VisualExitReport:
    """What the exit before OCR does on a split: visual_logits (N, C), predictions and labels (N,)."""
    probs = (visual_logits / spec["temperature"]).softmax(dim=-1)  # (N, C)
    predictions, skips = combine(probs, system_predictions, spec["threshold"])
    visual_correct = probs.argmax(dim=-1) == labels  # (N,)
    return VisualExitReport(
        threshold=spec["threshold"],
        temperature=spec["temperature"],
        accuracy_visual_alone=float(visual_correct.float().mean()),
        skip_ocr_share=float(skips.float().mean()),
        accuracy_of_skipped=float(visual_correct[skips].float().mean()) if skips.any() else None,
        accuracy_with_visual_exit=float((predictions == labels).float().mean()),
        accuracy_always_ocr=float((system_predictions == labels).float().mean()),
        ece_before=expected_calibration_error(visual_logits.softmax(dim=-1), labels),
        ece_after=expected_calibration_error(probs, labels),
    )


def evaluate_split(
    model: EarlyExitModel, corpus_dir: Path, split: str, report_dir: Path, featurizer
) -> EvaluationReport:
    """Evaluate on one split of a built corpus; writes `report_dir/report.json` and plots."""
    dataset = PageDataset.from_split(corpus_dir, split, featurizer, model.label_names)
    logits, gates, labels = collect_logits(model, dataset, 32, resolve_device())
    visual = None
    if model.visual_exit is not None:
        pages = InkPages.from_split(
            corpus_dir, split, model.visual_exit.image_size, model.label_names
        )
        visual = visual_logits(model.visual_exit, pages)  # (N, C), same page order
    return evaluate_logits(model, logits, gates, labels, report_dir, visual)
