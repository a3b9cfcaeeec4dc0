"""A bag-of-words logistic-regression baseline on OCR text: the floor a multimodal model must beat
and a check that the synthetic corpus is not too easy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from docexit.corpus.sources import LABELS
from docexit.corpus.store import load_split
from docexit.models.text_terms import CHAR_NGRAMS, TEXT_FEATURES


@dataclass(frozen=True)
class BaselineResult:
    train_pages: int
    test_pages: int
    accuracy: float


def text_classifier(max_terms: int | None = None, features: str = "words"):
    """TF-IDF on OCR words (or `features="chars"`: character n-grams) + logistic regression:
    the text-only floor a model must beat; `max_terms` keeps only that many of the most
    frequent terms (None: every term)."""
    if features not in TEXT_FEATURES:
        raise ValueError(f"features must be one of {TEXT_FEATURES}, got {features!r}")
    terms = {"analyzer": "char_wb", "ngram_range": CHAR_NGRAMS} if features == "chars" else {}
    return make_pipeline(
        TfidfVectorizer(
            lowercase=True, min_df=1, sublinear_tf=True, max_features=max_terms, **terms
        ),
        LogisticRegression(max_iter=2000, C=10.0),
    )


def bag_of_words_baseline(corpus_dir: Path, test_split: str = "test") -> BaselineResult | None:
    """Train TF-IDF + logistic regression on the train split, score it on `test_split`; None
    when there is nothing to score (no test pages, or train pages of fewer than two classes)."""
    train = load_split(corpus_dir, "train").to_pydict()
    test = load_split(corpus_dir, test_split).to_pydict()
    if not test["label_id"] or len(set(train["label_id"])) < 2:
        return None
    classifier = text_classifier()
    classifier.fit([" ".join(words) for words in train["words"]], train["label_id"])
    predictions = classifier.predict([" ".join(words) for words in test["words"]])
    correct = sum(int(p == y) for p, y in zip(predictions, test["label_id"], strict=True))
    return BaselineResult(len(train["label_id"]), len(test["label_id"]), correct / len(predictions))


def class_probabilities(classifier: Any, texts: Sequence[str], num_classes: int) -> np.ndarray:
    """(N, num_classes) a fitted `text_classifier`'s probabilities, 0 for classes it never saw."""
    probabilities = np.zeros((len(texts), num_classes))
    probabilities[:, classifier.classes_] = classifier.predict_proba(list(texts))
    return probabilities


def out_of_fold_probabilities(
    texts: Sequence[str],
    labels: Sequence[int],
    folds: np.ndarray,
    extra_texts: Sequence[str] = (),
    extra_labels: Sequence[int] = (),
    weights: Callable[[np.ndarray, np.ndarray], np.ndarray | None] | None = None,
    num_classes: int = len(LABELS),
    max_terms: int | None = None,
    features: str = "words",
) -> np.ndarray:
    """(N, num_classes) each page's class probabilities from a
    `text_classifier(max_terms, features)` trained on the other folds, plus the `extra` pages (such as the synthetic replay pages
    `docexit adapt` mixes in) when given; `weights(fold_labels, extra_labels)` gives the
    training pages' sample weights, in order."""
    labels = np.asarray(labels)
    extra = np.asarray(extra_labels, dtype=labels.dtype)
    probabilities = np.empty((len(labels), num_classes))
    for fold in np.unique(folds):
        train, test = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        floor = text_classifier(max_terms, features).fit(
            [texts[i] for i in train] + list(extra_texts),
            np.concatenate([labels[train], extra]),
            logisticregression__sample_weight=weights(labels[train], extra) if weights else None,
        )
        probabilities[test] = class_probabilities(floor, [texts[i] for i in test], num_classes)
    return probabilities


def cross_validated_baseline(corpus_dir: Path, folds: int, seed: int = 0) -> BaselineResult:
    """The baseline's out-of-fold accuracy over every page of a small corpus (all splits), with
    the stratified folds `docexit adapt` uses: a steadier figure than a few dozen test pages."""
    from docexit.models.training.adaptation import load_pages, stratified_folds

    pages = load_pages(corpus_dir).to_pydict()
    labels = np.asarray(pages["label_id"])
    texts = [" ".join(words) for words in pages["words"]]
    assignment = stratified_folds(labels, folds, seed)
    predictions = out_of_fold_probabilities(texts, labels, assignment).argmax(axis=1)
    n = len(labels)
    return BaselineResult(n - n // folds, n, float((predictions == labels).mean()))


@dataclass(frozen=True)
class SyntheticBaselines:
    """How far the synthetic corpus's text carries to real pages, measured with the baseline:
    trained on synthetic pages alone, and on each fold's real pages plus `docexit adapt`'s
    replay pages (the data the adapted model sees)."""

    synthetic_train_pages: int
    synthetic_only: float  # trained on the whole synthetic train split, scored on every real page
    replay_pages: int
    real_folds_with_replay: float  # trained on the other folds' real pages + the replay pages


def synthetic_baselines(
    real_dir: Path, synth_dir: Path, folds: int, replay_pages: int | None = None, seed: int = 0
) -> SyntheticBaselines:
    """The baseline with synthetic training pages, on the folds and replay pages that
    `docexit adapt --folds folds --replay-pages replay_pages --seed seed` uses (None: adapt's
    default number of replay pages)."""
    from docexit.models.training.adaptation import AdaptConfig, load_pages, stratified_folds
    from docexit.models.training.adaptation import replay_pages as adapt_replay

    if replay_pages is None:
        replay_pages = AdaptConfig().replay_pages

    real = load_pages(real_dir).to_pydict()
    labels = np.asarray(real["label_id"])
    texts = [" ".join(words) for words in real["words"]]
    synth = load_split(synth_dir, "train").to_pydict()
    replay = adapt_replay(synth_dir, replay_pages, seed).to_pydict()
    assignment = stratified_folds(labels, folds, seed)
    synthetic_only = text_classifier().fit(
        [" ".join(words) for words in synth["words"]], synth["label_id"]
    )
    with_replay = out_of_fold_probabilities(
        texts,
        labels,
        assignment,
        [" ".join(words) for words in replay["words"]],
        replay["label_id"],
    ).argmax(axis=1)
    return SyntheticBaselines(
        synthetic_train_pages=len(synth["label_id"]),
        synthetic_only=float((synthetic_only.predict(texts) == labels).mean()),
        replay_pages=len(replay["label_id"]),
        real_folds_with_replay=float((with_replay == labels).mean()),
    )
