"""A text prior for the exits: what two bag-of-words classifiers read in a page's OCR words,
pooled into every exit's output before its temperature and policy.

- The floor (`TfidfLinear` trained on labelled real pages) knows the archive's own pages.
- The expert (trained on labelled archive text without images, such as Tobacco-3482's OCR text)
  knows only the classes that text covers; it re-splits the share the exit and the floor put on
  those classes, and cannot take the others' share (`pool_log_probs`).

Each exit has its own two weights (0: that source unused), chosen out of fold by
`docexit calibrate`. Saved beside the weights as `text_prior.safetensors`.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file

from docexit.models.text_terms import CHAR_NGRAMS, text_terms

TEXT_PRIOR_FILE = "text_prior.safetensors"
TINY = 1e-12


@dataclass(frozen=True)
class TfidfLinear:
    """TF-IDF of a text's terms (sublinear counts, l2-normalised) and a linear classifier over
    them: the arithmetic of the scikit-learn `text_classifier` it was taken from, in numpy."""

    vocabulary: dict[str, int]  # term -> column
    idf: np.ndarray  # (V,) float64
    coef: np.ndarray  # (K, V) float64
    intercept: np.ndarray  # (K,) float64
    classes: np.ndarray  # (K,) int64, class ids in the model's label order
    features: str = "words"  # one of TEXT_FEATURES

    @classmethod
    def from_classifier(cls, classifier: Any) -> TfidfLinear:
        """From a fitted `corpus.baseline.text_classifier` pipeline."""
        vectorizer, linear = classifier.steps[0][1], classifier.steps[-1][1]
        features = {"word": "words", "char_wb": "chars"}.get(vectorizer.analyzer)
        if features is None or (features == "chars" and vectorizer.ngram_range != CHAR_NGRAMS):
            raise ValueError(f"cannot take a {vectorizer.analyzer!r} vectorizer's terms")
        coef, intercept = linear.coef_, linear.intercept_
        if len(linear.classes_) == 2:  # binary: p(second) = sigmoid(w.x + b)
            coef, intercept = np.stack([np.zeros_like(coef[0]), coef[0]]), np.r_[0.0, intercept]
        return cls(
            {word: int(column) for word, column in vectorizer.vocabulary_.items()},
            np.asarray(vectorizer.idf_, dtype=np.float64),
            np.ascontiguousarray(coef, dtype=np.float64),  # scikit-learn's may be Fortran order
            np.asarray(intercept, dtype=np.float64),
            np.asarray(linear.classes_, dtype=np.int64),
            features,
        )

    def rounded(self) -> TfidfLinear:
        """The same classifier with its arrays rounded to float16, as `tensors` saves them (a
        prior is fitted with the numbers it will ship with)."""
        arrays = (a.astype(np.float16).astype(np.float64) for a in (self.idf, self.coef))
        return replace(self, **dict(zip(("idf", "coef"), arrays, strict=True)))

    def tfidf(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The text's non-zero TF-IDF columns (n,) and values (n,)."""
        counts = Counter(t for t in text_terms(text, self.features) if t in self.vocabulary)
        columns = np.fromiter((self.vocabulary[w] for w in counts), dtype=np.int64)
        values = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=np.float64)
        values = values * self.idf[columns]
        norm = np.linalg.norm(values)
        return columns, values / norm if norm > 0 else values

    def probabilities(self, texts: Sequence[str], num_classes: int) -> np.ndarray:
        """(N, num_classes) class probabilities, 0 for classes the classifier never saw."""
        out = np.zeros((len(texts), num_classes))
        for i, text in enumerate(texts):
            columns, values = self.tfidf(text)
            scores = self.coef[:, columns] @ values + self.intercept  # (K,)
            scores = np.exp(scores - scores.max())
            out[i, self.classes] = scores / scores.sum()
        return out

    def tensors(self, prefix: str) -> tuple[dict[str, np.ndarray], list[str]]:
        """Its arrays, named `prefix.x` (idf and coef in float16: see `rounded`), and its terms
        in column order."""
        words = [""] * len(self.vocabulary)
        for word, column in self.vocabulary.items():
            words[column] = word
        arrays = {"idf": self.idf.astype(np.float16), "coef": self.coef.astype(np.float16)}
        arrays |= {"intercept": self.intercept, "classes": self.classes}
        return {f"{prefix}.{k}": v for k, v in arrays.items()}, words

    @classmethod
    def from_tensors(
        cls, tensors: dict[str, np.ndarray], prefix: str, terms: list[str], features: str
    ) -> TfidfLinear:
        idf, coef = (tensors[f"{prefix}.{k}"].astype(np.float64) for k in ("idf", "coef"))
        return cls(
            {term: column for column, term in enumerate(terms)},
            idf,
            coef,
            *(tensors[f"{prefix}.{k}"] for k in ("intercept", "classes")),
            features,
        )


def drop_text_prior(model: Any) -> None:
    """Before training changes a model's weights: its prior's weights were chosen on the old
    outputs, and its floor may have been trained on the pages training uses."""
    if model.text_prior is not None:
        print("the model's text prior is dropped (refit it with docexit calibrate --text-prior)")
        model.text_prior = None


def pool_log_probs(
    log_probs: torch.Tensor,
    floor: torch.Tensor,
    expert: torch.Tensor,
    covered: torch.Tensor,
    floor_weight: float,
    expert_weight: float,
) -> torch.Tensor:
    """(B, C) log-probabilities: an exit's `log_probs` (B, C) in a log-linear pool with the
    floor's probabilities (B, C), then the share on the `covered` classes (K,) re-split by a
    log-linear pool with the expert's (B, C), keeping that share as the first pool put it."""
    mixed = (1 - floor_weight) * log_probs + floor_weight * torch.log(floor + TINY)
    mixed = torch.log_softmax(mixed, dim=-1)  # (B, C)
    share = torch.logsumexp(mixed[:, covered], dim=-1, keepdim=True)  # (B, 1)
    within = (1 - expert_weight) * (mixed[:, covered] - share)
    within = within + expert_weight * torch.log(expert[:, covered] + TINY)  # (B, K)
    pooled = mixed.clone()
    pooled[:, covered] = share + torch.log_softmax(within, dim=-1)
    return pooled


@dataclass(frozen=True)
class TextPrior:
    """The floor and the expert, and each exit's weights for them."""

    floor: TfidfLinear
    expert: TfidfLinear
    floor_weights: np.ndarray  # (E,)
    expert_weights: np.ndarray  # (E,)
    num_classes: int

    def page_probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """(N, 2, C) float32: what the floor and the expert say of each page's text."""
        parts = [c.probabilities(texts, self.num_classes) for c in (self.floor, self.expert)]
        return np.stack(parts, axis=1).astype(np.float32)

    def combine(self, exit_index: int, logits: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """(B, C) exit `exit_index`'s logits (B, C) pooled with its pages' text (B, 2, C)."""
        covered = torch.as_tensor(self.expert.classes, device=logits.device)
        text = text.to(logits.device, torch.float32)
        return pool_log_probs(
            torch.log_softmax(logits.float(), dim=-1),
            text[:, 0],
            text[:, 1],
            covered,
            float(self.floor_weights[exit_index]),
            float(self.expert_weights[exit_index]),
        )

    def combine_exits(self, logits: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """(E, N, C) every exit's logits (E, N, C) pooled with its pages' text (N, 2, C)."""
        return torch.stack(
            [self.combine(e, exit_logits, text) for e, exit_logits in enumerate(logits)]
        )

    def summary(self, label_names: Sequence[str]) -> dict[str, Any]:
        """What training.json records of the prior (`label_names`: the model's classes)."""
        return {
            "floor_features": self.floor.features,
            "floor_words": len(self.floor.vocabulary),
            "expert_features": self.expert.features,
            "expert_words": len(self.expert.vocabulary),
            "expert_classes": [label_names[i] for i in self.expert.classes.tolist()],
            "floor_weights": self.floor_weights.tolist(),
            "expert_weights": self.expert_weights.tolist(),
        }

    def save(self, directory: Path) -> Path:
        floor, floor_words = self.floor.tensors("floor")
        expert, expert_words = self.expert.tensors("expert")
        weights = {"floor_weights": self.floor_weights, "expert_weights": self.expert_weights}
        weights["num_classes"] = np.asarray(self.num_classes, dtype=np.int64)
        metadata = {
            "floor_words": json.dumps(floor_words),
            "expert_words": json.dumps(expert_words),
            "floor_features": self.floor.features,
            "expert_features": self.expert.features,
        }
        path = Path(directory) / TEXT_PRIOR_FILE
        save_file(floor | expert | weights, str(path), metadata=metadata)
        return path

    @classmethod
    def load(cls, directory: Path) -> TextPrior | None:
        """The prior saved in `directory`, or None when it has none."""
        path = Path(directory) / TEXT_PRIOR_FILE
        if not path.is_file():
            return None
        with safe_open(str(path), framework="numpy") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (a safe_open handle)
            metadata = f.metadata()
        floor, expert = (
            TfidfLinear.from_tensors(
                tensors,
                part,
                json.loads(metadata[f"{part}_words"]),
                metadata.get(f"{part}_features", "words"),  # priors saved before chars: words
            )
            for part in ("floor", "expert")
        )
        return cls(
            floor,
            expert,
            tensors["floor_weights"],
            tensors["expert_weights"],
            int(tensors["num_classes"]),
        )
