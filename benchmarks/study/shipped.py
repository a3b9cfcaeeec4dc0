"""Does the product ship the study's winner? The shipped model (the bundled one by default) is
matched to the study's designs by its exits and training strategy, and its own exit policy is
measured like the study's points: the same test pages, paired bootstrap against its own full
depth, and the engine's speed-up over full depth with length bucketing at each batch size.

The shipped model is trained on more pages for longer than the study's runs, so its absolute
accuracy is not comparable with theirs; its early-exit loss against its own full depth and its
measured speed-up are.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
import torch

from docexit.benchmarks.engine_setup import Page
from docexit.benchmarks.study.grid import Design, StudySettings, data_key
from docexit.benchmarks.study.timing import TimingPlan, copies_for, pages_per_s
from docexit.models.policies import policy_from_dict
from docexit.models.policies.selection import never_exit_early
from docexit.models.training.metrics import paired_bootstrap

SHIPPED_FILE = "shipped.json"


@dataclass
class ShippedCheck:
    """The shipped model's design and its own policy's figures on the study's test pages."""

    model_dir: str
    exits: list[str]
    strategy: str | None  # from its training record; None when not recorded
    designs: list[str]  # the study's designs with the same exits (and strategy, when known)
    policy: dict[str, Any]
    n: int
    accuracy_full: float
    accuracy_early_exit: float
    vs_own_full: list[float]  # difference, low, high (95% paired bootstrap)
    mean_exit_layer: float
    speedup: dict[str, float]  # batch size -> median (early exit / full depth) pages/s
    keeps_accuracy: bool  # early exit at most `tolerance` below its own full depth


def _exit_name(spec: dict[str, Any]) -> str:
    return f"{spec['source']}@{spec['layer']}:{spec['head']}"


def recorded_strategy(model_dir: Path) -> str | None:
    """The `--strategy` of the first step in the model's training chain that names one
    (`training.json`), else None."""
    from docexit.models.training.model_card import TRAINING_FILE, training_chain

    path = model_dir / TRAINING_FILE
    if not path.is_file():
        return None
    for step in training_chain(json.loads(path.read_text())):  # oldest first
        words = shlex.split(step.get("command", ""))
        if "--strategy" in words[:-1]:
            return words[words.index("--strategy") + 1]
    return None


def matching_designs(
    exits: list[dict[str, Any]], strategy: str | None, designs: Sequence[Design], depth: int
) -> list[str]:
    """Designs whose exit list at `depth` is `exits` and, when known, whose strategy matches."""
    names = [_exit_name(e) for e in exits]
    return [
        d.name
        for d in designs
        if [_exit_name(e) for e in d.exits(depth)] == names
        and (strategy is None or d.strategy == strategy)
    ]


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it lies inside it (reports stay portable)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _cache_key(model_dir: Path, corpus: Path, settings: StudySettings, plan: TimingPlan) -> str:
    """What the check's figures depend on: the model's files, the test pages, the timing."""
    weights = hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()
    config = (model_dir / "config.json").read_text()
    pages = [data_key(corpus), settings.max_eval_pages]
    spec = [weights, config, pages, asdict(plan), settings.bootstrap, torch.get_num_threads()]
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def _speedups(model, policy, never, pages: list[Page], plan: TimingPlan) -> dict[str, float]:
    """Median over repeats of early-exit / full-depth pages per second, per timed batch size."""
    speedup: dict[str, float] = {}
    for batch_size in plan.batch_sizes:
        subset = [pages[i] for i in plan.indices(batch_size, len(pages))]
        timed = subset * copies_for(model, subset, batch_size, plan.min_seconds)
        ratios = []
        for _ in range(plan.repeats):
            base, _ = pages_per_s(model, never, timed, "full_bucketed", batch_size)
            fast, _ = pages_per_s(model, policy, timed, "shrink_refill", batch_size)
            ratios.append(fast / base)
        speedup[str(batch_size)] = median(ratios)
    return speedup


def check_shipped(
    model_dir: Path,
    corpus: Path,
    settings: StudySettings,
    plan: TimingPlan,
    designs: Sequence[Design],
    depth: int,
    out_dir: Path,
    device: torch.device,
) -> ShippedCheck:
    """Measure the shipped model's own policy on the study's test pages (cached in `out_dir`).

    Raises ValueError when the model stores no exit policy."""
    from docexit.models.checkpoint import load_checkpoint
    from docexit.models.training.evaluation import exit_names

    cache_path = out_dir / SHIPPED_FILE
    key = _cache_key(model_dir, corpus, settings, plan)
    if cache_path.is_file():
        cached = json.loads(cache_path.read_text())
        if cached.get("key") == key:
            return ShippedCheck(**{**cached["check"], "model_dir": _shown(model_dir)})
    model = load_checkpoint(model_dir, device)
    if not model.config.policy:
        raise ValueError(f"{model_dir} stores no exit policy: nothing to compare")
    pages = _test_pages(model, corpus, settings)
    policy = policy_from_dict(model.config.policy)
    never = never_exit_early("max_prob", len(model.exits))
    labels = np.array([label for _, label in pages])
    bs = settings.primary_batch
    _, full = pages_per_s(model, never, pages, "full_bucketed", bs)
    _, early = pages_per_s(model, policy, pages, "shrink_refill", bs)
    full_ok = np.array([full[i].label_id for i in range(len(pages))]) == labels  # (N,)
    early_ok = np.array([early[i].label_id for i in range(len(pages))]) == labels  # (N,)
    diff, low, high = paired_bootstrap(
        (early_ok.astype(float) - full_ok.astype(float))[None], settings.bootstrap
    )
    speedup = _speedups(model, policy, never, pages, plan)
    strategy = recorded_strategy(model_dir)
    check = ShippedCheck(
        model_dir=_shown(model_dir),
        exits=exit_names(model),
        strategy=strategy,
        designs=matching_designs(list(model.config.exits), strategy, designs, depth),
        policy=dict(model.config.policy),
        n=len(pages),
        accuracy_full=float(full_ok.mean()),
        accuracy_early_exit=float(early_ok.mean()),
        vs_own_full=[float(diff[0]), float(low[0]), float(high[0])],
        mean_exit_layer=float(np.mean([early[i].exit_layer for i in range(len(pages))])),
        speedup=speedup,
        keeps_accuracy=bool(diff[0] >= -settings.tolerance - 1e-12),
    )
    cache_path.write_text(json.dumps({"key": key, "check": asdict(check)}, indent=2))
    return check


def _test_pages(model: Any, corpus: Path, settings: StudySettings) -> list[Page]:
    """The study's test pages (evenly spaced, `max_eval_pages`), featurized for `model`."""
    from docexit.models.tokenizer import featurizer_for
    from docexit.models.training.dataset import PageDataset

    featurizer, limit = featurizer_for(model), settings.max_eval_pages
    test = PageDataset.from_split(corpus, "test", featurizer, model.label_names, limit, spread=True)
    return [test[i] for i in range(len(test))]
