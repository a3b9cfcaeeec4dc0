"""Where the model runs: one rule for training, evaluation, benchmarks and the pipeline."""

from __future__ import annotations

import torch


def resolve_device(name: str | None = "auto") -> torch.device:
    """`auto` (or None): CUDA when a GPU is visible, else CPU; otherwise the named device."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
