"""Corpus pages as model inputs: tokenised once, page images decoded on access."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from PIL import Image

from docexit.corpus.store import first_or_spread, load_split
from docexit.models.batch import ModelBatch, collate
from docexit.transforms.featurize import Featurizer
from docexit.transforms.records import PageFeatures


def model_label_ids(table: pa.Table, label_names: list[str], what: str) -> np.ndarray:
    """(N,) each page's label id in the model's own class order, found by the page's class
    name: a corpus numbers its classes as RVL-CDIP does, an imported classifier may order (or
    choose) its classes otherwise. Pages of a class the model lacks are refused, named."""
    index = {name: i for i, name in enumerate(label_names)}
    names = table.column("label").to_pylist()
    missing = Counter(name for name in names if name not in index)
    if missing:
        shown = ", ".join(f"{name!r} ({count} pages)" for name, count in sorted(missing.items()))
        raise ValueError(
            f"{what} has pages of classes the model does not have: {shown}; its classes are "
            f"{label_names}: leave those pages out of the corpus"
        )
    return np.array([index[name] for name in names], dtype=np.int64)


class PageDataset(torch.utils.data.Dataset):
    """Pages of a corpus table (`corpus.store.CORPUS_SCHEMA`); items are `(PageFeatures,
    label_id)`, the label id in the model's class order (`label_names`)."""

    def __init__(
        self,
        table: pa.Table,
        featurizer: Featurizer,
        label_names: list[str],
        what: str = "the corpus",
    ):
        self.labels = torch.from_numpy(model_label_ids(table, label_names, what))  # (N,)
        data = table.select(["words", "boxes", "image_png", "source", "page"]).to_pydict()
        self.sources = [f"{s}#{p}" for s, p in zip(data["source"], data["page"], strict=True)]
        self.texts = [" ".join(map(str, words)) for words in data["words"]]  # for a text prior
        self._images = data["image_png"]
        self._featurizer = featurizer
        self._tokens = [
            featurizer.tokenize(words, [tuple(box) for box in boxes])
            for words, boxes in zip(data["words"], data["boxes"], strict=True)
        ]

    @classmethod
    def from_split(
        cls,
        corpus_dir: Path,
        split: str,
        featurizer: Featurizer,
        label_names: list[str],
        limit: int | None = None,
        spread: bool = False,
    ) -> PageDataset:
        """One split of a corpus built by `docexit corpus`, optionally `limit` pages: its first
        ones, or (`spread`, for training) pages evenly spaced over the split."""
        table = first_or_spread(load_split(corpus_dir, split), limit, spread)
        return cls(table, featurizer, label_names, f"{corpus_dir}'s {split} split")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[PageFeatures, int]:
        input_ids, bbox = self._tokens[index]
        image = Image.open(io.BytesIO(self._images[index]))
        pixels = self._featurizer.pixels(image)  # (3, S, S), as the model's image processor
        features = PageFeatures(input_ids=input_ids, bbox=bbox, pixel_values=pixels)
        return features, int(self.labels[index])

    def token_counts(self) -> np.ndarray:
        """(N,) tokens per page, for length bucketing."""
        return np.array([len(ids) for ids, _ in self._tokens])


def collate_labelled(items: list[tuple[PageFeatures, int]]) -> tuple[ModelBatch, torch.Tensor]:
    """DataLoader collate: a padded batch and its (B,) labels."""
    features, labels = zip(*items, strict=True)
    return collate(list(features)), torch.tensor(labels, dtype=torch.long)
