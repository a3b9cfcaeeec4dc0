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

from docexit.corpus.archive_text import ArchiveText
from docexit.corpus.store import load_split
from docexit.models.calibration import confidence_ece, expected_calibration_error
from docexit.models.checkpoint import load_checkpoint
from docexit.models.device import resolve_device
from docexit.models.model import EarlyExitModel
from docexit.models.report_json import Report
from docexit.models.text_prior import drop_text_prior
from docexit.models.tokenizer import featurizer_for
from docexit.models.training.dataset import PageDataset
from docexit.models.training.evaluation import calibrate_and_choose_policy, exit_names
from docexit.models.training.metrics import paired_bootstrap
from docexit.models.training.recalibration import (
    ArchiveLogits,
    Calibration,
    Headline,
    Outcomes,
    apply,
    model_outputs,
)
from docexit.models.training.text_pages import archive_text_pages
from docexit.models.training.trainer import TrainConfig, Trainer
from docexit.models.training.visual_training import fit_visual_exit

SPLITS = ("train", "validation", "test")
# Every real page's exit and visual-exit logits from the fold model that never saw it, written
# by `cross_validate` into its work folder: `docexit calibrate --out-of-fold` fits on them.
OUT_OF_FOLD_FILE = "out_of_fold_outputs.safetensors"
FLOOR_NAME = "TF-IDF + logistic regression on OCR words, same folds"


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
    # archive documents per covered class mixed into fine-tuning as text-only pages (needs
    # labelled archive text; 0: none)
    text_pages_per_class: int = 0


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
    archive: ArchiveText | None = None,
) -> EarlyExitModel:
    """`model` fine-tuned on `real` pages plus synthetic replay (and text pages of `archive`,
    as `config` asks), then recalibrated, with its policy and visual threshold chosen on
    synthetic validation (stored in its config). A text prior is dropped: it was fitted to the
    outputs of the weights this changes."""
    drop_text_prior(model)
    if config.max_length is not None:
        set_max_text_tokens(model, config.max_length)
    featurizer = featurizer_for(model)
    train_set = PageDataset(
        fine_tuning_pages(real, synth_corpus, config, archive),
        featurizer,
        model.label_names,
        "the real, replay and text pages",
    )
    val_set = PageDataset.from_split(
        synth_corpus, "validation", featurizer, model.label_names, config.val_pages
    )
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


def fine_tuning_pages(
    real: pa.Table, synth_corpus: Path, config: AdaptConfig, archive: ArchiveText | None
) -> pa.Table:
    """The real pages, the synthetic replay pages and, with `config.text_pages_per_class`,
    text pages of the archive's documents (an auxiliary text objective)."""
    tables = [real, replay_pages(synth_corpus, config.replay_pages, config.seed)]
    if config.text_pages_per_class:
        if archive is None:
            raise ValueError("text pages need labelled archive text (--archive-text)")
        tables.append(archive_text_pages(archive, config.text_pages_per_class, config.seed))
    return pa.concat_tables(tables)


def set_max_text_tokens(model: EarlyExitModel, tokens: int) -> None:
    """Let the model read `tokens` text tokens per page (up to what its position embeddings
    hold): real pages carry more words than the synthetic ones it may have been trained on."""
    backbone = model.config.backbone
    limit = int(backbone.max_position_embeddings) - int(backbone.pad_token_id) - 1
    if not 2 <= tokens <= limit:
        raise ValueError(f"max_length must be in [2, {limit}], got {tokens}")
    model.config.max_text_tokens = tokens


@dataclass(frozen=True, kw_only=True)
class OutcomeExit(Report):
    """One exit's accuracy and ECE (before calibration, after the temperature, after
    temperature and confidence map) under a model's calibration. Reports written before
    confidence maps existed lack `ece_after_temperature` and hold that ECE as `ece_after`."""

    name: str
    accuracy: float
    ece_before: float
    ece_after_temperature: float | None = None
    ece_after: float

    OPTIONAL = ("ece_after_temperature",)


@dataclass(frozen=True)
class OutcomeReport(Report):
    """What a model's calibration does on pages: the headline figures, then each exit (in the
    JSON, the headline's keys and `exits` side by side)."""

    headline: Headline
    exits: tuple[OutcomeExit, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.headline.to_dict(), "exits": [e.to_dict() for e in self.exits]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutcomeReport:
        headline = Headline.from_dict({k: v for k, v in data.items() if k != "exits"})
        return cls(headline, tuple(OutcomeExit.from_dict(e) for e in data["exits"]))


@dataclass(frozen=True)
class FloorReport(Report):
    """The text-only floor under the same folds, and the adapted model's full-depth accuracy
    minus the floor's: (difference, 95% interval low, high)."""

    name: str
    accuracy: float
    adapted_minus_floor: tuple[float, float, float]


@dataclass(frozen=True)
class CrossvalReport(Report):
    """Out-of-fold figures of `adapt` on real pages next to the base model's (`crossval.json`,
    `crossval` in training.json); `page_order` is the pages' order in the outcomes. Reports
    written before the floor existed have no `text_floor`; `seconds` is set by the CLI."""

    folds: int
    config: dict[str, Any]  # the AdaptConfig's fields
    page_order: tuple[int, ...]
    base: OutcomeReport
    adapted: OutcomeReport
    text_floor: FloorReport | None = None
    seconds: float | None = None

    OPTIONAL = ("text_floor", "seconds")


def outcome_report(
    outcomes: Outcomes, outputs: ArchiveLogits, exit_layers: Sequence[int], names: Sequence[str]
) -> OutcomeReport:
    """Accuracy (full depth, early exit, with the visual exit), depth and per-exit calibration
    of what the model's calibration did (`outcomes`) with its `outputs` on the same pages."""
    labels = outputs.labels
    exits = tuple(
        OutcomeExit(
            name=name,
            accuracy=float(outcomes.correct[e].float().mean()),
            ece_before=expected_calibration_error(outputs.logits[e].softmax(-1), labels),
            ece_after_temperature=confidence_ece(
                outcomes.temperature_confidence[e], outcomes.correct[e]
            ),
            ece_after=confidence_ece(outcomes.confidence[e], outcomes.correct[e]),
        )
        for e, name in enumerate(names)
    )
    return OutcomeReport(outcomes.headline(labels, exit_layers), exits)


def cross_validate(
    base_model_dir: Path,
    real: pa.Table,
    synth_corpus: Path,
    work_dir: Path,
    config: AdaptConfig,
    archive: ArchiveText | None = None,
) -> CrossvalReport:
    """Out-of-fold figures of `adapt` on `real`, and the base model's on the same pages; the
    text floor is the best one `archive` text (when given) allows."""
    base = load_checkpoint(base_model_dir, device=resolve_device(config.device))
    names = exit_names(base)
    folds = stratified_folds(real.column("label_id").to_pylist(), config.folds, config.seed)
    parts: list[ArchiveLogits] = []
    order: list[np.ndarray] = []
    outcomes: list[Outcomes] = []
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
            archive,
        )
        parts.append(model_outputs(model, real.take(held_out)))
        outcomes.append(apply(Calibration.of_model(model), parts[-1]))
        order.append(held_out)
    adapted, adapted_outputs = Outcomes.concat(outcomes), ArchiveLogits.concat(parts)
    page_order = np.concatenate(order)
    hashes = real.column("content_hash").to_pylist()
    adapted_outputs.save(work_dir / OUT_OF_FOLD_FILE, [hashes[i] for i in page_order])
    base_outputs = model_outputs(base, real.take(page_order))
    return CrossvalReport(
        folds=config.folds,
        config=vars(config),
        page_order=tuple(page_order.tolist()),
        base=outcome_report(
            apply(Calibration.of_model(base), base_outputs), base_outputs, base.exit_layers, names
        ),
        adapted=outcome_report(adapted, adapted_outputs, base.exit_layers, names),
        text_floor=text_floor_report(real, folds, page_order, adapted.correct[-1], archive),
    )


def text_floor_report(
    real: pa.Table,
    folds: np.ndarray,
    page_order: np.ndarray,
    model_correct: torch.Tensor,
    archive: ArchiveText | None = None,
) -> FloorReport:
    """The text-only floor (TF-IDF + logistic regression on OCR words, or on character
    n-grams) under the same folds: each page predicted by a floor trained on the other folds,
    and with `archive` text the same floors pooled with an expert trained on it, whichever is
    highest; and the adapted model's full-depth accuracy (`model_correct (N,)`, pages in
    `page_order`) minus the floor's, with a 95% paired bootstrap interval."""
    from docexit.corpus.archive_text import best_floor, pooled_floors
    from docexit.corpus.baseline import out_of_fold_probabilities

    texts = [" ".join(words) for words in real.column("words").to_pylist()]
    labels = np.array(real.column("label_id").to_pylist())
    floors = {
        FLOOR_NAME: out_of_fold_probabilities(texts, labels, folds).argmax(axis=1),
        f"{FLOOR_NAME}, counting character n-grams": out_of_fold_probabilities(
            texts, labels, folds, features="chars"
        ).argmax(axis=1),
    }
    if archive is not None:
        pooled = pooled_floors(texts, labels, folds, archive)[0]
        floors |= {f"{FLOOR_NAME}, {name}": predicted for name, predicted in pooled.items()}
    name = best_floor(floors, labels)
    floor_ok = (floors[name] == labels)[page_order].astype(np.float64)  # (N,) in outcome order
    model_ok = model_correct.numpy().astype(np.float64)  # (N,)
    diff, low, high = paired_bootstrap((model_ok - floor_ok)[None])  # (1,) each
    return FloorReport(
        name=name,
        accuracy=float(floor_ok.mean()),
        adapted_minus_floor=(float(diff[0]), float(low[0]), float(high[0])),
    )
