"""Adapt a trained model to real scans, and measure it honestly.

`adapt` fine-tunes a model on labelled real pages mixed with synthetic replay pages (so it keeps
what the synthetic corpus taught), then recalibrates its exits, chooses its exit policy and its
visual-exit threshold on synthetic validation pages, as `docexit train` does.

`cross_validate` runs that whole procedure once per fold of a stratified k-fold split of the
real pages and scores each fold's held-out pages with the model that never saw them. The
out-of-fold figures are the real-page accuracy to report for a model adapted on all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from docexit.corpus.store import load_split
from docexit.models.calibration import (
    apply_temperatures,
    confidence_ece,
    expected_calibration_error,
)
from docexit.models.checkpoint import load_checkpoint
from docexit.models.device import resolve_device
from docexit.models.model import EarlyExitModel
from docexit.models.tokenizer import featurizer_for
from docexit.models.training.dataset import PageDataset, check_corpus_labels
from docexit.models.training.evaluation import calibrate_and_choose_policy, exit_names
from docexit.models.training.metrics import paired_bootstrap, reported_confidence
from docexit.models.training.recalibration import (
    ArchiveLogits,
    Calibration,
    apply,
    model_outputs,
)
from docexit.models.training.trainer import TrainConfig, Trainer
from docexit.models.training.visual_training import fit_visual_exit

SPLITS = ("train", "validation", "test")
# Every real page's exit and visual-exit logits from the fold model that never saw it, written
# by `cross_validate` into its work folder: `docexit calibrate --out-of-fold` fits on them.
OUT_OF_FOLD_FILE = "out_of_fold_outputs.safetensors"


@dataclass(frozen=True)
class AdaptConfig:
    epochs: int = 4
    batch_size: int = 8
    lr_pretrained: float = 3e-5
    lr_new: float = 3e-4
    replay_pages: int = 300  # synthetic train pages mixed into the fine-tuning set
    val_pages: int = 400  # synthetic validation pages for calibration and the policies
    folds: int = 5
    seed: int = 0
    device: str = "auto"
    policy: str = "max_prob"
    tolerance: float = 0.0
    confidence: float = 0.9
    visual_min_threshold: float = 0.95
    max_length: int | None = None  # text tokens per page after adaptation (None: the model's)


def load_pages(corpus_dir: Path) -> pa.Table:
    """Every page of a built corpus, all splits together (real samples are small)."""
    tables = [load_split(corpus_dir, s) for s in SPLITS if (corpus_dir / f"{s}.parquet").is_file()]
    if not tables:
        raise FileNotFoundError(f"{corpus_dir} holds no corpus split: build it with docexit corpus")
    return pa.concat_tables(tables)


def stratified_folds(labels: Sequence[int], folds: int, seed: int = 0) -> np.ndarray:
    """(N,) fold of each page: each class's pages, in a seeded order, dealt round-robin, with the
    deal continuing across classes so fold sizes differ by at most one."""
    labels = np.asarray(labels)
    if not 2 <= folds <= len(labels):
        raise ValueError(f"folds must be in [2, {len(labels)}], got {folds}")
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(labels), dtype=np.int64)
    dealt = 0
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        assignment[members] = (dealt + np.arange(len(members))) % folds
        dealt += len(members)
    return assignment


def replay_pages(synth_corpus: Path, n: int, seed: int) -> pa.Table:
    """`n` seeded random pages of the synthetic train split."""
    table = load_split(synth_corpus, "train")
    rows = np.random.default_rng(seed).permutation(len(table))[: min(n, len(table))]
    return table.take(np.sort(rows))


def adapt(
    model: EarlyExitModel,
    real: pa.Table,
    synth_corpus: Path,
    work_dir: Path,
    config: AdaptConfig,
) -> EarlyExitModel:
    """`model` fine-tuned on `real` pages plus synthetic replay, then recalibrated, with its
    policy and visual threshold chosen on synthetic validation (stored in its config)."""
    check_corpus_labels(real, model.config.label_names, "the real pages' corpus")
    if config.max_length is not None:
        set_max_text_tokens(model, config.max_length)
    featurizer = featurizer_for(model)
    replay = replay_pages(synth_corpus, config.replay_pages, config.seed)
    train_set = PageDataset(pa.concat_tables([real, replay]), featurizer)
    val_set = PageDataset.from_split(synth_corpus, "validation", featurizer, config.val_pages)
    train_config = TrainConfig(
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr_pretrained=config.lr_pretrained,
        lr_new=config.lr_new,
        patience=config.epochs + 1,  # no early stopping: synthetic validation is not the goal
        keep_best=False,
        seed=config.seed,
        device=config.device,
    )
    model = Trainer(model, train_set, val_set, work_dir, train_config).fit()
    selection = calibrate_and_choose_policy(
        model,
        val_set,
        kind=config.policy,
        tolerance=config.tolerance,
        batch_size=config.batch_size * 2,
        confidence=config.confidence,
    )
    if model.visual_exit is not None:
        fit_visual_exit(
            model,
            synth_corpus,
            selection.predictions,
            epochs=0,
            tolerance=config.tolerance,
            confidence=config.confidence,
            min_threshold=config.visual_min_threshold,
        )
    return model


def set_max_text_tokens(model: EarlyExitModel, tokens: int) -> None:
    """Let the model read `tokens` text tokens per page (up to what its position embeddings
    hold): real pages carry more words than the synthetic ones it may have been trained on."""
    backbone = model.config.backbone
    limit = int(backbone.max_position_embeddings) - int(backbone.pad_token_id) - 1
    if not 2 <= tokens <= limit:
        raise ValueError(f"max_length must be in [2, {limit}], got {tokens}")
    model.config.max_text_tokens = tokens


@dataclass
class PageOutcomes:
    """A model's decisions on a set of pages: raw probabilities per exit (E, N, C), each exit's
    confidence after its temperature alone and the confidence it reports (temperature, then
    map) (E, N), the early-exit prediction and exit layer (N,), the whole system's prediction
    with the visual exit (N,) and whether it skipped OCR (N,), labels (N,)."""

    raw_probs: torch.Tensor
    temperature_confidence: torch.Tensor
    confidence: torch.Tensor
    early_exit: torch.Tensor
    exit_layer: torch.Tensor
    system: torch.Tensor
    skipped_ocr: torch.Tensor
    labels: torch.Tensor

    @classmethod
    def concat(cls, parts: Sequence[PageOutcomes]) -> PageOutcomes:
        dims = {"raw_probs": 1, "temperature_confidence": 1, "confidence": 1}
        return cls(
            **{
                name: torch.cat([getattr(p, name) for p in parts], dim=dims.get(name, 0))
                for name in cls.__dataclass_fields__
            }
        )


def page_outcomes(model: EarlyExitModel, outputs: ArchiveLogits) -> PageOutcomes:
    """What `model` (its temperatures, policy and visual exit) does with pages it gave
    `outputs` on."""
    outcome = apply(Calibration.of_model(model), outputs)
    calibrated = apply_temperatures(outputs.logits, model.config.temperatures)  # (E, N, C)
    return PageOutcomes(
        raw_probs=outputs.logits.softmax(dim=-1),
        temperature_confidence=reported_confidence(calibrated, outputs.labels)[0],
        confidence=outcome.confidence,
        early_exit=outcome.predictions,
        exit_layer=torch.tensor(model.exit_layers)[outcome.exit_index],
        system=outcome.system_predictions,
        skipped_ocr=outcome.skips_ocr,
        labels=outputs.labels,
    )


def outcome_report(outcomes: PageOutcomes, names: Sequence[str]) -> dict[str, Any]:
    """Accuracy (full depth, early exit, with the visual exit), depth and per-exit calibration."""
    labels = outcomes.labels

    def accuracy(predictions: torch.Tensor) -> float:
        return float((predictions == labels).float().mean())

    correct = outcomes.raw_probs.argmax(dim=-1) == labels  # (E, N)

    return {
        "n": int(labels.numel()),
        "accuracy_full": accuracy(outcomes.raw_probs[-1].argmax(dim=-1)),
        "accuracy_early_exit": accuracy(outcomes.early_exit),
        "accuracy_with_visual_exit": accuracy(outcomes.system),
        "skip_ocr_share": float(outcomes.skipped_ocr.float().mean()),
        "mean_exit_layer": float(outcomes.exit_layer.float().mean()),
        "exits": [
            {
                "name": name,
                "accuracy": accuracy(outcomes.raw_probs[e].argmax(dim=-1)),
                "ece_before": expected_calibration_error(outcomes.raw_probs[e], labels),
                "ece_after_temperature": confidence_ece(
                    outcomes.temperature_confidence[e], correct[e]
                ),
                "ece_after": confidence_ece(outcomes.confidence[e], correct[e]),
            }
            for e, name in enumerate(names)
        ],
    }


def cross_validate(
    base_model_dir: Path,
    real: pa.Table,
    synth_corpus: Path,
    work_dir: Path,
    config: AdaptConfig,
) -> dict[str, Any]:
    """Out-of-fold figures of `adapt` on `real`, and the base model's on the same pages."""
    base = load_checkpoint(base_model_dir, device=resolve_device(config.device))
    names = exit_names(base)
    folds = stratified_folds(real.column("label_id").to_pylist(), config.folds, config.seed)
    parts: list[ArchiveLogits] = []
    order: list[np.ndarray] = []
    outcomes: list[PageOutcomes] = []
    for fold in range(config.folds):
        held_out = np.flatnonzero(folds == fold)
        print(f"fold {fold + 1}/{config.folds}: {len(held_out)} held-out pages", flush=True)
        model = load_checkpoint(base_model_dir, device=resolve_device(config.device))
        model = adapt(
            model,
            real.take(np.flatnonzero(folds != fold)),
            synth_corpus,
            work_dir / f"fold{fold}",
            config,
        )
        parts.append(model_outputs(model, real.take(held_out)))
        outcomes.append(page_outcomes(model, parts[-1]))
        order.append(held_out)
    adapted = PageOutcomes.concat(outcomes)
    page_order = np.concatenate(order)
    hashes = real.column("content_hash").to_pylist()
    ArchiveLogits.concat(parts).save(work_dir / OUT_OF_FOLD_FILE, [hashes[i] for i in page_order])
    return {
        "folds": config.folds,
        "config": vars(config),
        "page_order": page_order.tolist(),
        "base": outcome_report(
            page_outcomes(base, model_outputs(base, real.take(page_order))), names
        ),
        "adapted": outcome_report(adapted, names),
        "text_floor": text_floor_report(real, folds, page_order, adapted),
    }


def text_floor_report(
    real: pa.Table, folds: np.ndarray, page_order: np.ndarray, adapted: PageOutcomes
) -> dict[str, Any]:
    """The text-only floor (TF-IDF + logistic regression on OCR words) under the same folds:
    each page predicted by a floor trained on the other folds; and the adapted model's
    full-depth accuracy minus the floor's, with a 95% paired bootstrap interval."""
    from docexit.corpus.baseline import out_of_fold_predictions

    texts = [" ".join(words) for words in real.column("words").to_pylist()]
    labels = np.array(real.column("label_id").to_pylist())
    predictions = out_of_fold_predictions(texts, labels, folds)
    floor_ok = (predictions == labels)[page_order].astype(np.float64)  # (N,) in outcome order
    model_ok = (adapted.raw_probs[-1].argmax(dim=-1) == adapted.labels).numpy().astype(np.float64)
    diff, low, high = paired_bootstrap((model_ok - floor_ok)[None])  # (1,) each
    return {
        "name": "TF-IDF + logistic regression on OCR words, same folds",
        "accuracy": float(floor_ok.mean()),
        "adapted_minus_floor": [float(diff[0]), float(low[0]), float(high[0])],
    }
