"""A padded batch of model inputs, and ``collate`` that builds one from per-page features."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from docexit.transforms.records import PageFeatures

PAD_TOKEN_ID = 0  # [PAD] of the all-MiniLM-L6-v2 WordPiece vocabulary
PAD_BOX = (0, 0, 0, 0)


@dataclass(frozen=True)
class ModelBatch:
    """Padded model inputs for B pages of up to T tokens."""

    input_ids: torch.Tensor  # (B, T) long, [PAD]=0 after each page's [SEP]
    bbox: torch.Tensor  # (B, T, 4) long, 0-1000, padding boxes (0, 0, 0, 0)
    attention_mask: torch.Tensor  # (B, T) long, 1 = real token, 0 = padding
    pixel_values: torch.Tensor  # (B, 3, H, W) float, normalised page images (224x224)

    def __post_init__(self) -> None:
        b, t = self.input_ids.shape
        assert self.bbox.shape == (b, t, 4), f"bbox {tuple(self.bbox.shape)} vs ({b}, {t}, 4)"
        assert self.attention_mask.shape == (b, t), "attention_mask must match input_ids"
        assert self.pixel_values.ndim == 4 and self.pixel_values.shape[:2] == (b, 3)

    @property
    def batch_size(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def seq_len(self) -> int:
        return int(self.input_ids.shape[1])

    def to(self, device: torch.device | str) -> ModelBatch:
        """The same batch on ``device`` (tensors already there are not copied)."""
        return ModelBatch(
            input_ids=self.input_ids.to(device),
            bbox=self.bbox.to(device),
            attention_mask=self.attention_mask.to(device),
            pixel_values=self.pixel_values.to(device),
        )

    def select(self, index: torch.Tensor) -> ModelBatch:
        """The pages at ``index`` ((K,) long, on any device), in that order: a (K, T) batch."""
        index = index.to(self.input_ids.device, dtype=torch.long)
        return ModelBatch(
            input_ids=self.input_ids.index_select(0, index),
            bbox=self.bbox.index_select(0, index),
            attention_mask=self.attention_mask.index_select(0, index),
            pixel_values=self.pixel_values.index_select(0, index),
        )


def collate(features: Sequence[PageFeatures], pad_to: int | None = None) -> ModelBatch:
    """Stack pages into a batch padded (right) to the longest page, or to ``pad_to`` tokens."""
    if not features:
        raise ValueError("collate needs at least one page")
    longest = max(f.num_tokens for f in features)
    seq_len = longest if pad_to is None else pad_to
    if seq_len < longest:
        raise ValueError(f"pad_to={pad_to} is shorter than the longest page ({longest} tokens)")
    b = len(features)
    input_ids = np.full((b, seq_len), PAD_TOKEN_ID, dtype=np.int64)  # (B, T)
    bbox = np.zeros((b, seq_len, 4), dtype=np.int64)  # (B, T, 4), PAD_BOX everywhere
    attention_mask = np.zeros((b, seq_len), dtype=np.int64)  # (B, T)
    for i, f in enumerate(features):
        n = f.num_tokens
        input_ids[i, :n] = f.input_ids
        bbox[i, :n] = f.bbox
        attention_mask[i, :n] = 1
    pixel_values = np.stack([f.pixel_values for f in features]).astype(np.float32)  # (B,3,H,W)
    return ModelBatch(
        input_ids=torch.from_numpy(input_ids),
        bbox=torch.from_numpy(bbox),
        attention_mask=torch.from_numpy(attention_mask),
        pixel_values=torch.from_numpy(pixel_values),
    )
