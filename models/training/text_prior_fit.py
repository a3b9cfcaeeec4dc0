"""Fit a model's text prior (`models/text_prior.py`) on labelled real pages, out of fold.

The exits' outputs come from `docexit adapt`'s cross-validation (each page from a fold model
that never saw it); the text floor's are out of fold too (each page from a floor trained on the
other folds); the archive expert never saw a real page. Each exit's two pool weights are chosen
on those outputs by accuracy, and what ships is a floor trained on every page with them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from docexit.corpus.archive_text import POOL_WEIGHTS, ArchiveText
from docexit.corpus.baseline import out_of_fold_probabilities, text_classifier
from docexit.corpus.sources import LABELS
from docexit.models.text_prior import TextPrior, TfidfLinear
from docexit.models.training.adaptation import stratified_folds
from docexit.models.training.recalibration import ArchiveLogits

FLOOR_WEIGHTS = (0.0, 0.25, 0.5, 0.75)
# The (floor, expert) weights each exit chooses among.
Grid = tuple[tuple[float, ...], tuple[float, ...]]
GRID: Grid = (FLOOR_WEIGHTS, POOL_WEIGHTS)
TEXT_FOLDS = 5
# Each of the prior's two classifiers keeps this many of its most frequent terms, so that a
# prior (float16, about 0.7 MB) fits beside a bundled checkpoint's weights.
PRIOR_TERMS = 10_000


def page_texts(table: pa.Table, hashes: Sequence[str], what: str) -> tuple[list[str], np.ndarray]:
    """The OCR text of each page named by content hash, in that order, and its table rows."""
    pages = table.select(["content_hash", "words"]).to_pydict()
    row_of = {h: i for i, h in enumerate(pages["content_hash"])}
    missing = [h for h in hashes if h not in row_of]
    if missing:
        raise ValueError(f"{len(missing)} pages of the out-of-fold outputs are not in {what}")
    rows = np.asarray([row_of[h] for h in hashes])
    return [" ".join(map(str, pages["words"][r])) for r in rows], rows


def in_model_order(archive: ArchiveText, label_names: Sequence[str]) -> ArchiveText:
    """The archive text labelled with the model's own class ids (found by class name)."""
    ids = {name: i for i, name in enumerate(label_names)}
    lacking = sorted({LABELS[i] for i in archive.labels.tolist()} - set(ids))
    if lacking:
        raise ValueError(f"the archive text has classes the model does not have: {lacking}")
    return ArchiveText(archive.texts, np.asarray([ids[LABELS[i]] for i in archive.labels]))


def untrained_prior(
    texts: Sequence[str],
    labels: np.ndarray,
    archive: ArchiveText,
    num_exits: int,
    classes: int,
    max_terms: int | None = PRIOR_TERMS,
    floor_features: str = "words",
) -> TextPrior:
    """A floor counting `floor_features` trained on every page, the archive expert (words),
    each keeping its `max_terms` most frequent terms (None: every term), and weights 0 (set
    by `with_weights`)."""
    floor = text_classifier(max_terms, floor_features).fit(list(texts), labels)
    expert = text_classifier(max_terms).fit(archive.texts, archive.labels)
    floor, expert = (TfidfLinear.from_classifier(c).rounded() for c in (floor, expert))
    zeros = np.zeros(num_exits)
    return TextPrior(floor, expert, zeros, zeros.copy(), classes)


def out_of_fold_text(
    texts: Sequence[str],
    labels: np.ndarray,
    prior: TextPrior,
    folds: np.ndarray | None = None,
) -> torch.Tensor:
    """(N, 2, C) each page's text features as a model that never saw it would have them: the
    floor's from floors trained on the other `folds` (default: `TEXT_FOLDS` stratified) and
    limited to as many words as the prior's floor (its limit, or every word when that was not
    reached: the pages of a fold never have more) and counting the same features, the
    expert's as is."""
    if folds is None:
        folds = stratified_folds(labels, TEXT_FOLDS)
    floor = out_of_fold_probabilities(
        texts,
        labels,
        folds,
        num_classes=prior.num_classes,
        max_terms=len(prior.floor.vocabulary),
        features=prior.floor.features,
    )
    expert = prior.expert.probabilities(texts, prior.num_classes)
    return torch.from_numpy(np.stack([floor, expert], axis=1).astype(np.float32))


def chosen_weights(
    prior: TextPrior, pages: ArchiveLogits, text: torch.Tensor, grid: Grid = GRID
) -> tuple[np.ndarray, np.ndarray]:
    """(E,), (E,): each exit's floor and expert weights, among the `grid`'s, under which its
    pooled labels are most often right on `pages` (their text features `text` (N, 2, C));
    the smallest on a tie."""
    floor_weights, expert_weights = [], []
    for e, logits in enumerate(pages.logits):  # (N, C) each

        def right(weights: tuple[float, float], e: int = e, logits: torch.Tensor = logits) -> float:
            trial = with_weights(prior, {e: weights})
            pooled = trial.combine(e, logits, text)
            return float((pooled.argmax(-1) == pages.labels).float().mean())

        best = max(itertools.product(*grid), key=right)
        floor_weights.append(best[0])
        expert_weights.append(best[1])
    return np.asarray(floor_weights), np.asarray(expert_weights)


def with_weights(prior: TextPrior, weights: dict[int, tuple[float, float]]) -> TextPrior:
    """The prior with exit e's (floor, expert) weights set to `weights[e]`."""
    floor, expert = prior.floor_weights.copy(), prior.expert_weights.copy()
    for e, (floor_weight, expert_weight) in weights.items():
        floor[e], expert[e] = floor_weight, expert_weight
    return replace(prior, floor_weights=floor, expert_weights=expert)


def fitted(
    prior: TextPrior, pages: ArchiveLogits, text: torch.Tensor, grid: Grid = GRID
) -> TextPrior:
    """The prior with each exit's weights chosen on `pages` and their text (N, 2, C)."""
    floor_weights, expert_weights = chosen_weights(prior, pages, text, grid)
    return replace(prior, floor_weights=floor_weights, expert_weights=expert_weights)


def with_shipped_prior(
    model: Any, prior: TextPrior, pages: ArchiveLogits, text: torch.Tensor
) -> ArchiveLogits:
    """Give `model` the prior with weights chosen on every page; return the pooled outputs
    its calibration is then fitted on."""
    model.text_prior = fitted(prior, pages, text)
    return pooled(model.text_prior, pages, text)


def fold_preparer(
    prior: TextPrior, pages: ArchiveLogits, text: torch.Tensor, grid: Grid = GRID
) -> Callable[[torch.Tensor], ArchiveLogits]:
    """For `recalibration.cross_fit`: every page pooled with weights chosen on `rows` alone."""

    def prepare(rows: torch.Tensor) -> ArchiveLogits:
        return pooled(fitted(prior, pages.take(rows), text[rows], grid), pages, text)

    return prepare


def pooled(prior: TextPrior, pages: ArchiveLogits, text: torch.Tensor) -> ArchiveLogits:
    """The pages' outputs with every exit pooled with their text features (N, 2, C)."""
    logits = prior.combine_exits(pages.logits, text)  # (E, N, C)
    return ArchiveLogits(logits, pages.gates, pages.labels, pages.visual)
