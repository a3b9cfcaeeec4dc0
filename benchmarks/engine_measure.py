"""One timed run of an engine mode (pages/s, accuracy, peak memory) and the per-layer costs
behind the ideal speed-up an exit histogram allows (`docexit bench engine`, the design study)."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import resource
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from docexit.benchmarks.engine_setup import Page
from docexit.models.batch import collate
from docexit.models.engine import EarlyExitEngine
from docexit.models.model import EarlyExitModel
from docexit.models.policies import ExitPolicy
from docexit.models.scheduler import cut_groups, padded_length

# ---- measurements -------------------------------------------------------------------------------


def _rss_bytes() -> int:
    """Resident set size now (Linux); elsewhere the peak so far (ru_maxrss, KiB on Linux)."""
    statm = Path("/proc/self/statm")
    if statm.is_file():
        return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _release_memory() -> None:
    """Return freed heap memory to the OS so the next RSS baseline is honest (glibc only)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class PeakMemory:
    """Peak memory growth (MB) of the block: CUDA allocator peak, or sampled RSS on CPU."""

    def __init__(self, device: torch.device, interval_s: float = 0.005):
        self.device, self.interval_s, self.peak_mb = device, interval_s, 0.0
        self._stop = threading.Event()
        self._peak = self._start = 0
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._peak = max(self._peak, _rss_bytes())

    def __enter__(self) -> PeakMemory:
        _release_memory()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        else:
            self._start = self._peak = _rss_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            assert self._thread is not None
            self._thread.join()
            peak = max(self._peak, _rss_bytes())
        self.peak_mb = max(0, peak - self._start) / 2**20


@dataclass
class ModeResult:
    """One mode at one batch size."""

    pages_per_s: float
    accuracy: float
    peak_mb: float
    seconds: float
    mean_step_pages: float  # average pages per encoder layer step
    tokens_per_page_layer: float  # padded sequence length per page and layer run
    cpu_pages_per_s: float = 0.0  # pages / CPU seconds of this process (all its threads)


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, leave=False, disable=not enabled, file=sys.stderr)


def run_mode(
    model: EarlyExitModel,
    policy: ExitPolicy,
    pages: Sequence[Page],
    mode: str,
    batch_size: int,
    *,
    pool_size: int,
    progress: bool = True,
) -> tuple[ModeResult, dict[int, Any]]:
    """Times one mode over all pages (after a warm-up on a few), with accuracy and memory."""
    engine = EarlyExitEngine(model, policy, step_size=batch_size, mode=mode, pool_size=pool_size)
    device = engine.device
    warmup = [(i, f) for i, (f, _) in enumerate(pages[: min(len(pages), batch_size, 8)])]
    for _ in engine.run(warmup):
        pass
    items = [(i, f) for i, (f, _) in enumerate(pages)]
    results = {}
    with (
        PeakMemory(device) as memory,
        _progress(len(pages), f"{mode} bs={batch_size}", progress) as bar,
    ):
        start, cpu_start = time.perf_counter(), time.process_time()
        for key, prediction in engine.run(items):
            results[key] = prediction
            bar.update(1)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu_start
    assert len(results) == len(pages)
    correct = sum(results[i].label_id == label for i, (_, label) in enumerate(pages))
    result = ModeResult(
        pages_per_s=len(pages) / seconds,
        accuracy=correct / len(pages),
        peak_mb=memory.peak_mb,
        seconds=seconds,
        mean_step_pages=engine.stats.mean_step_pages,
        tokens_per_page_layer=engine.stats.layer_tokens / max(1, engine.stats.page_layers),
        cpu_pages_per_s=len(pages) / cpu_seconds if cpu_seconds > 0 else 0.0,
    )
    return result, results


@dataclass
class LayerCosts:
    """Measured per-page cost (ms) of each piece of the model, on bucketed batches."""

    embed_ms: float
    layer_ms: list[float]  # encoder layers 1..L
    exit_ms: list[float]  # each exit head with its calibration and decision

    def to_exit(self, model: EarlyExitModel, exit_index: int) -> float:
        """Per-page cost of a page that leaves at `exit_index` in the engine: embeddings, the
        layers up to that exit, and every exit head at those depths (all exits of a depth run)."""
        depth = model.exit_layers[exit_index]
        heads = sum(ms for i, ms in enumerate(self.exit_ms) if model.exit_layers[i] <= depth)
        return self.embed_ms + sum(self.layer_ms[:depth]) + heads

    def full_depth(self) -> float:
        """Per-page cost of (b): all layers and the final classifier only."""
        return self.embed_ms + sum(self.layer_ms) + self.exit_ms[-1]


def measure_layer_costs(
    model: EarlyExitModel,
    policy: ExitPolicy,
    pages: Sequence[Page],
    batch_size: int,
    max_pages: int = 256,
) -> LayerCosts:
    """Per-page time of embeddings, each layer and each exit on length-bucketed batches (one
    timed pass after a warm-up batch; CUDA is synchronised around every piece here only)."""
    device = next(model.parameters()).device
    engine = EarlyExitEngine(model, policy, step_size=batch_size)  # for its autocast context
    features = [f for f, _ in pages[:max_pages]]
    lengths = [f.num_tokens for f in features]

    def fits(n: int, longest: int) -> bool:
        return n <= batch_size

    groups = cut_groups(lengths, fits, sort=True)
    limit = int(model.config.max_text_tokens)
    embed = 0.0
    layers = [0.0] * model.num_layers
    exits = [0.0] * len(model.exits)

    def timed(fn, *a):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        out = fn(*a)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return out, time.perf_counter() - t

    def decide(i: int, state) -> None:
        out = model.exit_logits(i, state)
        calibrated = out.logits.float() / model.temperatures[i]
        policy.decide(i, calibrated, out.gate, policy.init_state(state.num_pages, device))
        calibrated.softmax(-1).max(-1)

    for warm, rows in [(True, groups[0]), *((False, g) for g in groups)]:
        pad = padded_length(max(lengths[r] for r in rows), engine.pad_multiple, limit)
        batch = collate([features[r] for r in rows], pad_to=pad).to(device)
        with engine.compute():
            state, t = timed(model.embed, batch)
            embed += 0 if warm else t
            for k in range(model.num_layers + 1):
                if k > 0:
                    state, t = timed(model.run_layer, k, state)
                    layers[k - 1] += 0 if warm else t
                for i in model.exits_at(k):
                    _, t = timed(decide, i, state)
                    exits[i] += 0 if warm else t
    n = len(features) / 1000.0  # seconds per page -> ms
    return LayerCosts(embed / n, [t / n for t in layers], [t / n for t in exits])


def ideal_speedup(model: EarlyExitModel, costs: LayerCosts, exit_counts: Counter[int]) -> float:
    """(b)'s per-page cost over the mean per-page cost of the pages' own exits."""
    total = sum(exit_counts.values())
    mean = sum(costs.to_exit(model, i) * n for i, n in exit_counts.items()) / total
    return costs.full_depth() / mean
