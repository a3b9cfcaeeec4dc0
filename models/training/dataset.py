"""Corpus pages as model inputs: tokenised once, page images decoded on access."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from PIL import Image

from docexit.corpus.store import first_or_spread, load_split
from docexit.models.batch import ModelBatch, collate
from docexit.transforms.featurize import Featurizer
from docexit.transforms.records import PageFeatures


def check_corpus_labels(table: pa.Table, label_names: list[str], what: str) -> None:
    """Refuse pages whose `label_id` names another class in the model than their `label` does
    (an imported classifier with its own label order): training or scoring on them would
    compare the wrong classes without a word."""
    ids, names = table.column("label_id").to_pylist(), table.column("label").to_pylist()
    pairs = set(zip(ids, names, strict=True))
    wrong = sorted(
        (i, name) for i, name in pairs if not 0 <= i < len(label_names) or label_names[i] != name
    )
    if wrong:
        shown = ", ".join(f"{name!r} as id {i}" for i, name in wrong[:4])
        raise ValueError(
            f"{what} labels its pages {shown}, but the model's label ids are {label_names}: "
            "its classes must have the model's names and ids"
        )


class PageDataset(torch.utils.data.Dataset):
    """Pages of a corpus table (`corpus.store.CORPUS_SCHEMA`); items are `(PageFeatures, label_id)`."""

    def __init__(self, table: pa.Table, featurizer: Featurizer):
        columns = table.select(["words", "boxes", "label_id", "image_png", "source", "page"])
        data = columns.to_pydict()
        self.labels = torch.tensor(data["label_id"], dtype=torch.long)  # (N,)
        self.sources = [f"{s}#{p}" for s, p in zip(data["source"], data["page"], strict=True)]
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
        limit: int | None = None,
        spread: bool = False,
    ) -> PageDataset:
        """One split of a corpus built by `docexit corpus`, optionally `limit` pages: its first
        ones, or (`spread`, for training) pages evenly spaced over the split."""
        return cls(first_or_spread(load_split(corpus_dir, split), limit, spread), featurizer)

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
