"""`docexit bench engine`: wall-clock pages/s of the early-exit engine against full depth.

One run, the same pages and model, at each batch size, five modes (`docexit.models.engine`):

  (a) full_padded    full depth, every page padded to max_text_tokens (the paper's setting)
  (b) full_bucketed  full depth with length bucketing
  (c) batch_exit     early exit, the batch stops when all its pages have exited
  (d) shrink         early exit, exited pages leave the batch (one group at a time)
  (e) shrink_refill  shrinking + refill + bucketing (the engine)

For each: pages/s, accuracy and peak memory (CUDA: max_memory_allocated growth; CPU: resident
set growth sampled every few ms, after returning freed memory to the OS with malloc_trim). Also
the exit-layer histogram and the ideal speed-up over (b) that the histogram implies, from each
layer's measured per-page cost (embeddings, encoder layers, exit heads and decisions). Figures
go to `--json` and a PNG chart.

Pages: the synthetic generator's own words and boxes (no OCR), or a built corpus split
(`--corpus DIR --split test`). Model: the bundled one, `--model DIR`, or `--random-base`
(LayoutLMv3-base size, 12 layers, hidden 768, random weights: for speed only).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import random
import resource
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from docexit.models.batch import collate
from docexit.models.device import resolve_device
from docexit.models.engine import MODES, EarlyExitEngine
from docexit.models.model import EarlyExitModel
from docexit.models.policies import ExitPolicy, MaxProbThreshold, PerExitThresholds
from docexit.models.scheduler import cut_groups, padded_length
from docexit.transforms.records import LABELS, PageFeatures

MODE_ORDER = ("full_padded", "full_bucketed", "batch_exit", "shrink", "shrink_refill")
MODE_LETTERS = dict(zip(MODE_ORDER, "abcde", strict=True))
QUICK = {"pages": 16, "batch_sizes": "1,8"}
Page = tuple[PageFeatures, int]  # features, label id


# ---- pages ------------------------------------------------------------------------------------


def _synthetic_chunk(task: tuple[int, int, int, str, int, int]) -> list[tuple[PageFeatures, str]]:
    """Pages `start..stop` of seed `seed`, featurized (a worker function)."""
    from docexit.corpus.synth import generate_page
    from docexit.transforms.featurize import Featurizer

    seed, start, stop, model_dir, max_text, image_size = task
    featurizer = Featurizer(model_dir, max_text, image_size)
    out = []
    for i in range(start, stop):
        label = LABELS[i % len(LABELS)]
        page = generate_page(label, random.Random(seed * 1_000_003 + i))
        out.append((featurizer(page.words, page.boxes, page.image), label))
    return out


def synthetic_pages(n: int, model: EarlyExitModel, seed: int = 0, workers: int = 1) -> list[Page]:
    """`n` generated pages, classes in turn, featurized from the generator's ground truth."""
    from docexit.models.tokenizer import tokenizer_source

    max_text, image_size = int(model.config.max_text_tokens), model.config.image_size
    source = str(tokenizer_source(model))
    chunk = max(1, -(-n // max(1, workers * 4)))
    tasks = [(seed, s, min(n, s + chunk), source, max_text, image_size) for s in range(0, n, chunk)]
    if workers <= 1:
        chunks = map(_synthetic_chunk, tasks)
    else:
        import multiprocessing

        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        chunks = pool.map(_synthetic_chunk, tasks)
    label2id = model.config.label2id
    pages = [(f, label2id.get(label, -1)) for part in chunks for f, label in part]
    if workers > 1:
        pool.shutdown()
    return pages


def corpus_pages(corpus: Path, split: str, model: EarlyExitModel, limit: int) -> list[Page]:
    """The first `limit` pages of built corpus splits (comma-separated, in that order; OCR
    words from the corpus)."""
    from docexit.models.tokenizer import featurizer_for
    from docexit.models.training.dataset import PageDataset

    featurizer = featurizer_for(model)
    pages: list[Page] = []
    for name in split.split(","):
        if len(pages) >= limit:
            break
        dataset = PageDataset.from_split(corpus, name.strip(), featurizer, limit - len(pages))
        pages += [dataset[i] for i in range(len(dataset))]
    return pages


# ---- models -------------------------------------------------------------------------------------


def random_base_model() -> EarlyExitModel:
    """LayoutLMv3-base size (12 layers, hidden 768, 12 heads, relative + spatial bias, 224 px),
    the paper's "quarter" exits plus text and vision exits, random weights. The exit heads'
    weights are scaled up so that confidences spread and pages exit at different depths."""
    from docexit.models.factory import build_model

    torch.manual_seed(0)
    model = build_model(
        init="random",
        placement="quarter",
        modality="independent",
        max_length=512,
        backbone_overrides={"max_position_embeddings": 514},  # as LayoutLMv3-base: 512 tokens
    )
    with torch.no_grad():
        for module in model.exits.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.normal_(std=0.05)
    return model.eval()


def quantile_policy(
    model: EarlyExitModel, pages: Sequence[Page], share: float = 0.3, sample: int = 64
) -> PerExitThresholds:
    """Thresholds that let about `share` of the pages exit at each exit (a speed test's policy
    for models without a chosen one): the (1 - share) quantile of each exit's confidence."""
    from docexit.models.policies import exit_confidence

    features = [f for f, _ in pages[:sample]]
    with torch.inference_mode():
        out = model(collate(features).to(next(model.parameters()).device))
    thresholds = []
    for e, t in enumerate(model.temperatures[:-1]):
        gate = out.gate_logits[e] if model.has_gate[e] else None
        scores = exit_confidence(out.logits[e].float() / t, gate).cpu()
        thresholds.append(float(torch.quantile(scores, 1.0 - share)))
    return PerExitThresholds((*thresholds, 1.0))


def load_model(args: argparse.Namespace) -> tuple[EarlyExitModel, str]:
    """The model to benchmark and a name for it (raises MissingModelError without one)."""
    from docexit.models.checkpoint import load_checkpoint

    if args.random_base:
        return random_base_model(), "random LayoutLMv3-base size (12x768)"
    if args.model is None:
        from docexit.pipeline.defaults import bundled_model_dir

        folder = bundled_model_dir()
        return load_checkpoint(folder), f"bundled ({folder})"
    return load_checkpoint(args.model), str(args.model)


def choose_policy(
    args: argparse.Namespace, model: EarlyExitModel, pages: Sequence[Page]
) -> tuple[ExitPolicy, str]:
    """`--threshold`, `--exit-share`, else the policy saved with the model (chosen on
    validation), else quantile thresholds (random models)."""
    from docexit.models.policies import policy_from_dict

    num_exits = len(model.exits)
    if args.threshold is not None:
        return MaxProbThreshold(args.threshold, num_exits), "--threshold"
    if args.exit_share is not None:
        return quantile_policy(model, pages, args.exit_share), "--exit-share (speed test only)"
    if model.config.policy and not args.random_base:
        return policy_from_dict(model.config.policy), "chosen on validation (model config)"
    return quantile_policy(model, pages), "quantile thresholds (speed test only)"


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
        start = time.perf_counter()
        for key, prediction in engine.run(items):
            results[key] = prediction
            bar.update(1)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
    assert len(results) == len(pages)
    correct = sum(results[i].label_id == label for i, (_, label) in enumerate(pages))
    result = ModeResult(
        pages_per_s=len(pages) / seconds,
        accuracy=correct / len(pages),
        peak_mb=memory.peak_mb,
        seconds=seconds,
        mean_step_pages=engine.stats.mean_step_pages,
        tokens_per_page_layer=engine.stats.layer_tokens / max(1, engine.stats.page_layers),
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


# ---- the benchmark ------------------------------------------------------------------------------


def check_targets(report: dict[str, Any]) -> list[tuple[str, bool]]:
    """The issue's targets, each with whether it is met (only those the batch sizes allow)."""
    modes, checks = report["modes"], []

    def pps(mode: str, bs: str) -> float:
        return modes[mode][bs]["pages_per_s"]

    if "32" in modes["shrink_refill"]:
        checks.append(
            (
                "(e) >= 2x (a) at batch 32",
                pps("shrink_refill", "32") >= 2 * pps("full_padded", "32"),
            )
        )
        checks.append(
            (
                "(e) >= 1.5x (b) at batch 32",
                pps("shrink_refill", "32") >= 1.5 * pps("full_bucketed", "32"),
            )
        )
        measured = pps("shrink_refill", "32") / pps("full_bucketed", "32")
        checks.append(
            ("(e) within 85% of the ideal speed-up", measured >= 0.85 * report["ideal_speedup"])
        )
    for bs in modes["shrink_refill"]:
        drop = modes["full_bucketed"][bs]["accuracy"] - modes["shrink_refill"][bs]["accuracy"]
        checks.append(
            (f"(e) accuracy within 0.2 points of full depth at batch {bs}", drop <= 0.002)
        )
    if "1" in modes["shrink_refill"]:
        checks.append(
            (
                "(e) at batch 1 no slower than (b)",
                pps("shrink_refill", "1") >= pps("full_bucketed", "1"),
            )
        )
    return checks


def log(*parts: object) -> None:
    """A progress line, flushed at once (runs are long; output may go to a file)."""
    print(*parts, flush=True)


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Everything `main` prints, as the JSON report."""
    device = resolve_device(args.device)
    model, model_name = load_model(args)
    model.to(device).eval()
    log(f"model: {model_name}; {model.num_layers} layers, exits after {model.exit_layers}")
    start = time.perf_counter()
    if args.corpus is not None:
        pages = corpus_pages(args.corpus, args.split, model, args.pages)
        source = f"{args.corpus} ({args.split})"
    else:
        pages = synthetic_pages(args.pages, model, seed=args.seed, workers=args.workers)
        source = "synthetic generator (ground-truth words, no OCR)"
    tokens = [f.num_tokens for f, _ in pages]
    log(
        f"pages: {len(pages)} from {source} in {time.perf_counter() - start:.1f} s; tokens "
        f"mean {sum(tokens) / len(tokens):.0f}, min {min(tokens)}, max {max(tokens)}"
    )
    policy, policy_source = choose_policy(args, model, pages)
    log(f"policy: {policy.to_dict()} ({policy_source})")
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    modes: dict[str, dict[str, dict[str, float]]] = {m: {} for m in MODE_ORDER}
    exit_counts: Counter[int] = Counter()
    layer_counts: Counter[int] = Counter()
    for bs in batch_sizes:
        for mode in MODE_ORDER:
            result, predictions = run_mode(
                model,
                policy,
                pages,
                mode,
                bs,
                pool_size=args.pool_size,
                progress=not args.no_progress,
            )
            modes[mode][str(bs)] = asdict(result)
            log(
                f"  bs={bs:<3} ({MODE_LETTERS[mode]}) {mode:<14} {result.pages_per_s:8.2f} pages/s "
                f"acc {result.accuracy:.4f}  peak {result.peak_mb:8.1f} MB  "
                f"{result.mean_step_pages:5.1f} pages/step"
            )
            if mode == "shrink_refill" and not exit_counts:
                exit_counts = Counter(p.exit_index for p in predictions.values())
                layer_counts = Counter(p.exit_layer for p in predictions.values())
    cost_bs = max([b for b in batch_sizes if b <= 32] or batch_sizes)
    costs = measure_layer_costs(model, policy, pages, cost_bs)
    report: dict[str, Any] = {
        "model": model_name,
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(),
        "pages": len(pages),
        "source": source,
        "tokens": {"mean": sum(tokens) / len(tokens), "min": min(tokens), "max": max(tokens)},
        "policy": policy.to_dict(),
        "modes": modes,
        "exit_histogram": {str(k): layer_counts.get(k, 0) for k in range(model.num_layers + 1)},
        "exit_index_histogram": {str(k): exit_counts.get(k, 0) for k in range(len(model.exits))},
        "layer_costs_ms": {**asdict(costs), "batch_size": cost_bs},
        "ideal_speedup": ideal_speedup(model, costs, exit_counts),
    }
    report["speedup_over_full_bucketed"] = {
        bs: modes["shrink_refill"][bs]["pages_per_s"] / modes["full_bucketed"][bs]["pages_per_s"]
        for bs in modes["shrink_refill"]
    }
    report["targets"] = dict(check_targets(report))
    return report


def print_report(report: dict[str, Any]) -> None:
    """The summary table, histogram, ideal speed-up and targets."""
    modes = report["modes"]
    print(f"\n{'mode':<18}" + "".join(f"{'bs ' + bs:>22}" for bs in modes["full_padded"]))
    for mode in MODE_ORDER:
        cells = "".join(
            f"{r['pages_per_s']:8.2f}/s {100 * r['accuracy']:5.1f}% {r['peak_mb']:5.0f}MB"
            for r in modes[mode].values()
        )
        print(f"({MODE_LETTERS[mode]}) {mode:<14}{cells}")
    total = sum(report["exit_histogram"].values())
    print(
        "\nexit layer histogram: "
        + ", ".join(
            f"{k}: {v} ({100 * v / total:.0f}%)" for k, v in report["exit_histogram"].items()
        )
    )
    costs = report["layer_costs_ms"]
    print(
        f"per-page cost (ms, bs {costs['batch_size']}): embed {costs['embed_ms']:.2f}, layers "
        + " ".join(f"{t:.2f}" for t in costs["layer_ms"])
        + ", exits "
        + " ".join(f"{t:.3f}" for t in costs["exit_ms"])
    )
    measured = ", ".join(
        f"bs {bs}: {x:.2f}x" for bs, x in report["speedup_over_full_bucketed"].items()
    )
    print(f"ideal speed-up over (b): {report['ideal_speedup']:.2f}x; measured (e)/(b): {measured}")
    for name, ok in report["targets"].items():
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}")


def write_chart(report: dict[str, Any], path: Path) -> None:
    """Pages/s per mode and batch size (log scale), and the exit-layer histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = report["modes"]
    sizes = list(modes["full_padded"])
    fig, (ax, hist) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [2, 1]})
    width = 0.8 / len(MODE_ORDER)
    for j, mode in enumerate(MODE_ORDER):
        values = [modes[mode][bs]["pages_per_s"] for bs in sizes]
        xs = [i + (j - len(MODE_ORDER) / 2 + 0.5) * width for i in range(len(sizes))]
        ax.bar(xs, values, width, label=f"({MODE_LETTERS[mode]}) {mode}")
    ax.set_xticks(range(len(sizes)), [f"batch {bs}" for bs in sizes])
    ax.set_yscale("log")
    ax.set_ylabel("pages / s")
    ax.set_title(f"{report['model']} on {report['device']}", fontsize=9)
    ax.legend(fontsize=8)
    layers = list(report["exit_histogram"])
    hist.bar(layers, [report["exit_histogram"][k] for k in layers])
    hist.set_xlabel("exit layer")
    hist.set_ylabel("pages")
    hist.set_title(f"ideal speed-up over (b): {report['ideal_speedup']:.2f}x", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- CLI ----------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", type=Path, default=None, help="checkpoint folder (default: the bundled model)"
    )
    parser.add_argument(
        "--random-base",
        action="store_true",
        help="a random LayoutLMv3-base-size model (speed only)",
    )
    parser.add_argument(
        "--corpus", type=Path, default=None, help="built corpus folder (default: generate pages)"
    )
    parser.add_argument(
        "--split",
        default="test",
        help="corpus split, or several comma-separated (`test,validation`), with --corpus",
    )
    parser.add_argument("--pages", type=int, default=1000, help="pages to classify")
    parser.add_argument("--batch-sizes", default="1,8,32,64", help="comma-separated step sizes")
    parser.add_argument(
        "--pool-size", type=int, default=512, help="pages the engine buckets together"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="max-prob threshold instead of the model's policy",
    )
    parser.add_argument(
        "--exit-share",
        type=float,
        default=None,
        help="instead of the model's policy, thresholds that let about this share of pages exit "
        "at each exit (speed tests of untrained or random models)",
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--workers", type=int, default=1, help="processes generating synthetic pages"
    )
    parser.add_argument("--seed", type=int, default=0, help="synthetic page seed")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--png", type=Path, default=None, help="chart (default: next to --json)")
    parser.add_argument("--quick", action="store_true", help=f"a smoke run: {QUICK}")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def main(args: argparse.Namespace) -> int:
    from docexit.pipeline.defaults import MissingModelError

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.quick:
        args.pages, args.batch_sizes = QUICK["pages"], QUICK["batch_sizes"]
    if args.threads:
        torch.set_num_threads(args.threads)
    unknown = {m for m in MODE_ORDER if m not in MODES}
    assert not unknown, unknown
    try:
        report = run_benchmark(args)
    except MissingModelError as err:
        print(f"docexit bench engine: {err}", file=sys.stderr)
        return 2
    print_report(report)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    png = args.png or (args.json.with_suffix(".png") if args.json is not None else None)
    if png is not None:
        write_chart(report, png)
        print(f"wrote {png}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """`python -m docexit.benchmarks.engine_bench`."""
    parser = argparse.ArgumentParser(prog="docexit bench engine", description=__doc__)
    add_arguments(parser)
    return main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
