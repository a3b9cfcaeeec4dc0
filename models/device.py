"""Where the model runs: one rule for training, evaluation, benchmarks and the pipeline."""

from __future__ import annotations

import torch


def resolve_device(name: str | None = "auto") -> torch.device:
    """`auto` (or None): CUDA when a GPU is visible, else CPU; otherwise the named device."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def respect_omp_thread_limit() -> int:
    """Cap torch's intra-op threads at `OMP_THREAD_LIMIT` (set for Tesseract in batch runs and
    tests); returns the thread count. With more threads than the limit, torch 2.13's CPU
    convolution backward never returns (measured: a 3-block CNN hangs, one thread runs)."""
    import os

    limit = os.environ.get("OMP_THREAD_LIMIT", "")
    if limit.isdigit() and 0 < int(limit) < torch.get_num_threads():
        torch.set_num_threads(int(limit))
    return torch.get_num_threads()
