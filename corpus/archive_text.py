"""Labelled archive text without images or boxes (such as the Tobacco-3482 OCR text), and the
text-only floor that gets it: a fair floor trains on the same real text a model could learn from.

The file is JSON lines (optionally gzipped), one document a line, with `text` and
`rvl_cdip_label` (an RVL-CDIP class name, or null for a class RVL-CDIP does not have).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from docexit.corpus.baseline import (
    class_probabilities,
    out_of_fold_probabilities,
    text_classifier,
)
from docexit.corpus.sources import LABELS
from docexit.models.text_terms import TEXT_FEATURES

MIN_CHARS = 20  # shorter texts are pages with nothing readable


@dataclass(frozen=True)
class ArchiveText:
    """Documents with a known RVL-CDIP label: texts and label ids (N,)."""

    texts: list[str]
    labels: np.ndarray

    @property
    def classes(self) -> set[int]:
        return set(self.labels.tolist())


def load_archive_text(path: Path) -> ArchiveText:
    """The labelled documents of `path`: those without an RVL-CDIP class, empty or almost empty
    texts and exact duplicates are left out."""
    opener = gzip.open if str(path).endswith(".gz") else open
    texts, labels, seen = [], [], set()
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            record = json.loads(line)
            label, text = record.get("rvl_cdip_label"), " ".join(str(record["text"]).split())
            if label is None or len(text) < MIN_CHARS or text in seen:
                continue
            if label not in LABELS:
                raise ValueError(f"{path}:{number}: {label!r} is not an RVL-CDIP class")
            seen.add(text)
            texts.append(text)
            labels.append(LABELS.index(label))
    if not texts:
        raise ValueError(f"{path} holds no labelled text")
    return ArchiveText(texts, np.asarray(labels, dtype=np.int64))


def class_balanced_weights(labels: np.ndarray, num_classes: int = len(LABELS)) -> np.ndarray:
    """(N,) sample weights giving every class present the same total weight (mean weight 1), so
    classes with many archive documents do not swamp those with a few pages."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = 1.0 / counts[labels]
    return weights * len(labels) / weights.sum()


def as_real_pages_weights(real_labels: np.ndarray, archive_labels: np.ndarray) -> np.ndarray:
    """(R + A,) sample weights: real pages weigh 1, and each class's archive documents together
    weigh as much as that class's real pages, so the archive text sharpens the classes it covers
    without drowning those it does not."""
    real_counts = np.bincount(real_labels, minlength=len(LABELS)).astype(np.float64)
    archive_counts = np.bincount(archive_labels, minlength=len(LABELS)).astype(np.float64)
    archive_weights = real_counts[archive_labels] / archive_counts[archive_labels]
    return np.concatenate([np.ones(len(real_labels)), archive_weights])


# How the archive documents weigh in each fold's training set: every document alike, every
# class alike, or each class's archive text as much as its real pages.
WEIGHTINGS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray | None]] = {
    "plain": lambda real, archive: None,
    "class-balanced": lambda real, archive: class_balanced_weights(np.concatenate([real, archive])),
    "as real pages": as_real_pages_weights,
}


# Weights of the archive-text expert in `pool_within_covered`, chosen among by inner folds.
POOL_WEIGHTS = (0.0, 0.125, 0.25, 0.375, 0.5, 0.75, 1.0)
POOLED_FLOOR = "real pages, pooled with the archive-text expert"
# The pooled floor's name for each of `TEXT_FEATURES` its real-pages floor may count.
POOLED_FLOORS = {
    "words": POOLED_FLOOR,
    "chars": "real pages' character n-grams, pooled with the archive-text expert",
}


def archive_expert(archive: ArchiveText, texts: Sequence[str]) -> np.ndarray:
    """(N, classes) probabilities of a text classifier trained on the archive text alone: it
    knows only the classes the archive covers (0 for the others)."""
    return class_probabilities(
        text_classifier().fit(archive.texts, archive.labels), texts, len(LABELS)
    )


def pool_within_covered(
    probabilities: np.ndarray, expert: np.ndarray, covered: np.ndarray, weight: float
) -> np.ndarray:
    """(N, C) `probabilities` with the share among the `covered` classes (K,) re-split by a
    log-linear pool of theirs and the archive `expert`'s (weight 0: unchanged, 1: the expert's
    alone); the total on the covered classes stays as `probabilities` put it, so an expert
    that never saw the other classes cannot pull their pages into its own."""
    from docexit.models.text_prior import TINY, pool_log_probs

    pooled = pool_log_probs(
        torch.log(torch.from_numpy(probabilities) + TINY),
        torch.ones_like(torch.from_numpy(probabilities)),  # no floor: weight 0
        torch.from_numpy(expert),
        torch.from_numpy(np.asarray(covered)),
        0.0,
        weight,
    )
    return pooled.exp().numpy()


def chosen_pool_weight(
    probabilities: np.ndarray, expert: np.ndarray, labels: np.ndarray, covered: np.ndarray
) -> float:
    """The `POOL_WEIGHTS` entry under which the pooled labels are most often right on these
    pages (the smallest on a tie)."""
    right = [
        np.mean(pool_within_covered(probabilities, expert, covered, w).argmax(1) == labels)
        for w in POOL_WEIGHTS
    ]
    return POOL_WEIGHTS[int(np.argmax(right))]


def pooled_out_of_fold_predictions(
    texts: Sequence[str],
    labels: np.ndarray,
    folds: np.ndarray,
    archive: ArchiveText,
    expert: np.ndarray | None = None,
    features: str = "words",
) -> tuple[np.ndarray, list[float]]:
    """(N,) each page's label from the real-pages floor (counting `features`) of the other
    folds pooled with the archive-text expert (its probabilities (N, C), when the caller has
    them), the pool weight chosen by inner folds of those other folds alone; and the weight
    chosen for each fold."""
    from docexit.models.training.adaptation import stratified_folds

    if expert is None:
        expert = archive_expert(archive, texts)  # (N, C)
    covered = np.asarray(sorted(archive.classes))
    predictions, weights = np.empty(len(labels), dtype=np.int64), []
    for fold in np.unique(folds):
        train, test = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        train_texts = [texts[i] for i in train]
        inner = stratified_folds(labels[train], max(2, len(np.unique(folds)) - 1))
        inner_probabilities = out_of_fold_probabilities(
            train_texts, labels[train], inner, features=features
        )
        weight = chosen_pool_weight(inner_probabilities, expert[train], labels[train], covered)
        floor = text_classifier(features=features).fit(train_texts, labels[train])
        probabilities = class_probabilities(floor, [texts[i] for i in test], len(LABELS))
        pooled = pool_within_covered(probabilities, expert[test], covered, weight)
        predictions[test] = pooled.argmax(axis=1)
        weights.append(weight)
    return predictions, weights


def pooled_floors(
    texts: Sequence[str], labels: np.ndarray, folds: np.ndarray, archive: ArchiveText
) -> tuple[dict[str, np.ndarray], dict[str, list[float]]]:
    """For the pooled floor counting each of `TEXT_FEATURES`, by name (`POOLED_FLOORS`): its
    out-of-fold labels (N,), and its expert weight per fold."""
    expert = archive_expert(archive, texts)  # (N, C)
    predictions, weights = {}, {}
    for features in TEXT_FEATURES:
        name = POOLED_FLOORS[features]
        predictions[name], weights[name] = pooled_out_of_fold_predictions(
            texts, labels, folds, archive, expert, features
        )
    return predictions, weights


def best_floor(predictions: dict[str, np.ndarray], labels: np.ndarray) -> str:
    """The name of the floor whose `predictions` (N,) are most often right: the one to beat."""
    return max(predictions, key=lambda name: float(np.mean(predictions[name] == labels)))


def best_pooled_floor_correct(
    texts: Sequence[str], labels: np.ndarray, archive: ArchiveText, folds: int, seed: int = 0
) -> tuple[str, np.ndarray]:
    """The best pooled floor's name and (N,) whether it gets each page right out of fold,
    under the stratified folds `docexit adapt` deals these pages (in this order) into: the
    floor a model adapted and calibrated on them must beat."""
    from docexit.models.training.adaptation import stratified_folds

    predictions = pooled_floors(texts, labels, stratified_folds(labels, folds, seed), archive)[0]
    name = best_floor(predictions, labels)
    return name, predictions[name] == labels


@dataclass(frozen=True)
class ArchiveTextFloors:
    """Out-of-fold accuracy of the text floor on real pages, trained on the other folds alone
    and with the archive text (three weightings, and pooled with an archive-text expert),
    overall and on the pages whose class the archive text covers / does not cover."""

    archive_documents: int
    covered_pages: int
    uncovered_pages: int
    floors: dict[str, dict[str, float]]  # floor name -> {"all", "covered", "uncovered"}
    pool_weights: dict[str, list[float]]  # pooled floor -> its expert weight, per fold

    def best(self) -> tuple[str, float]:
        """The floor with the highest overall accuracy: the one a model must beat."""
        name = max(self.floors, key=lambda k: self.floors[k]["all"])
        return name, self.floors[name]["all"]


def archive_text_floors(
    real_dir: Path, archive: ArchiveText, folds: int, seed: int = 0
) -> ArchiveTextFloors:
    """The text floor on a labelled corpus's pages with and without the archive text, under
    `docexit adapt`'s stratified folds."""
    from docexit.models.training.adaptation import load_pages, stratified_folds

    pages = load_pages(real_dir).to_pydict()
    labels = np.asarray(pages["label_id"])
    texts = [" ".join(words) for words in pages["words"]]
    assignment = stratified_folds(labels, folds, seed)
    covered = np.isin(labels, sorted(archive.classes))  # (N,)
    predictions = {
        "real pages only": out_of_fold_probabilities(texts, labels, assignment).argmax(1),
        "real pages only, character n-grams": out_of_fold_probabilities(
            texts, labels, assignment, features="chars"
        ).argmax(1),
        **{
            f"with archive text, {name}": out_of_fold_probabilities(
                texts, labels, assignment, archive.texts, archive.labels, weights
            ).argmax(1)
            for name, weights in WEIGHTINGS.items()
        },
    }
    pooled, pool_weights = pooled_floors(texts, labels, assignment, archive)
    predictions |= pooled

    def accuracy(correct: np.ndarray, mask: np.ndarray) -> float:
        return float(correct[mask].mean()) if mask.any() else float("nan")

    floors = {}
    for name, predicted in predictions.items():
        correct = predicted == labels
        floors[name] = {
            "all": float(correct.mean()),
            "covered": accuracy(correct, covered),
            "uncovered": accuracy(correct, ~covered),
        }
    return ArchiveTextFloors(
        len(archive.texts), int(covered.sum()), int((~covered).sum()), floors, pool_weights
    )
