"""A bag-of-words logistic-regression baseline on OCR text: the floor a multimodal model must beat
and a check that the synthetic corpus is not too easy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from docexit.corpus.store import load_split


@dataclass(frozen=True)
class BaselineResult:
    train_pages: int
    test_pages: int
    accuracy: float


def text_classifier():
    """TF-IDF on OCR words + logistic regression: the text-only floor a model must beat."""
    return make_pipeline(
        TfidfVectorizer(lowercase=True, min_df=1, sublinear_tf=True),
        LogisticRegression(max_iter=2000, C=10.0),
    )


def bag_of_words_baseline(corpus_dir: Path, test_split: str = "test") -> BaselineResult:
    """Train TF-IDF + logistic regression on the train split, score it on `test_split`."""
    train = load_split(corpus_dir, "train").to_pydict()
    test = load_split(corpus_dir, test_split).to_pydict()
    classifier = text_classifier()
    classifier.fit([" ".join(words) for words in train["words"]], train["label_id"])
    predictions = classifier.predict([" ".join(words) for words in test["words"]])
    correct = sum(int(p == y) for p, y in zip(predictions, test["label_id"], strict=True))
    return BaselineResult(len(train["label_id"]), len(test["label_id"]), correct / len(predictions))
