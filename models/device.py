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


# Torch intra-op threads of a pipeline worker on CPU unless `--torch-threads` says otherwise.
# A worker OCRs and classifies its pages one after the other and runs one per core, so a second
# torch thread only borrows a core that Tesseract or another worker holds; on a busy 2-core
# machine every op then waits at its thread barrier (`docexit bench pipeline --pages 16` under a
# load average of 2-3: a page's inference 45 ms with 1 thread, 229 ms with 2).
CPU_WORKER_THREADS = 1


def worker_threads(requested: int | None, device: str) -> int | None:
    """Torch intra-op threads for a pipeline worker on `device`: `requested` when set, else
    `CPU_WORKER_THREADS` on CPU; None leaves torch's own default (GPU)."""
    if requested:
        return requested
    return CPU_WORKER_THREADS if str(device) == "cpu" else None
