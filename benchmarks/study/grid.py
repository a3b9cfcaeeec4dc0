"""The designs of `docexit study`: one factor at a time around a base design, plus a few
combinations, and the settings (quick or full) every design is trained and timed with.

A design is what is trained: exit head, exit input (CLS only, or modality exits too),
placement and training strategy. Calibration and the exit policy are not part of a design:
they are swept afterwards on the design's stored validation logits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from docexit.models.exits import exit_plan
from docexit.models.policies import search_kinds
from docexit.models.training.strategies import STRATEGIES

HEADS: tuple[str, ...] = ("ramp", "gate")
MODALITIES: tuple[str, ...] = ("none", "independent", "concat")  # none = layer CLS only
PLACEMENTS: tuple[str, ...] = ("single", "quarter", "alternate", "all")
#: The policy kinds the study sweeps by default: every kind of the policy registry but margin,
#: which docs/study/study.md was made without (`--policies` takes any kind of the registry).
POLICY_KINDS: tuple[str, ...] = tuple(k for k in search_kinds() if k != "margin")
FACTORS: dict[str, tuple[str, ...]] = {
    "head": HEADS,
    "modality": MODALITIES,
    "placement": PLACEMENTS,
    "strategy": STRATEGIES,
}


@dataclass(frozen=True)
class Design:
    """One trained configuration. `varies` names the factor changed against the base design
    ("base" for the base itself, "combination" for the combinations)."""

    name: str
    head: str = "ramp"
    modality: str = "none"
    placement: str = "quarter"
    strategy: str = "joint"
    varies: str = "base"

    def __post_init__(self) -> None:
        for factor, levels in FACTORS.items():
            if getattr(self, factor) not in levels:
                raise ValueError(f"{factor} must be one of {levels}, got {getattr(self, factor)!r}")

    def exits(self, num_layers: int) -> list[dict[str, Any]]:
        """The exit list at this depth (final classifier included)."""
        return exit_plan(num_layers, self.placement, self.modality, self.head)

    def factors(self) -> dict[str, str]:
        return {factor: getattr(self, factor) for factor in FACTORS}


BASE = Design("base")

# Combinations after the design card's summary of the paper's multimodal design (modality exits
# on the concatenated sequence, gates, entropy regularisation); the exact combinations the
# paper's tables single out are not available offline, so these are an approximation.
COMBINATIONS: tuple[Design, ...] = (
    Design("gate+concat", head="gate", modality="concat", varies="combination"),
    Design(
        "concat+joint_entropy", modality="concat", strategy="joint_entropy", varies="combination"
    ),
)


def one_factor_grid(
    base: Design = BASE, factors: dict[str, tuple[str, ...]] = FACTORS
) -> list[Design]:
    """The base design, then every other level of every factor with the rest kept at base."""
    designs = [base]
    for factor, levels in factors.items():
        for level in levels:
            if level != getattr(base, factor):
                designs.append(
                    replace(base, name=f"{factor}={level}", varies=factor, **{factor: level})
                )
    return designs


def study_designs(names: Sequence[str] | None = None) -> list[Design]:
    """The full grid (one factor at a time plus COMBINATIONS), or the named subset in grid
    order (the base design is always included: everything is compared with it)."""
    grid = one_factor_grid() + list(COMBINATIONS)
    if not names:
        return grid
    known = {d.name: d for d in grid}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown designs {unknown}; known: {sorted(known)}")
    wanted = {BASE.name, *names}
    return [d for d in grid if d.name in wanted]


@dataclass(frozen=True)
class StudySettings:
    """How every design is trained and timed (one set for the whole study). The defaults are
    the full grid: the bundled model's recipe (MiniLM warm start, 192 tokens, 128 px), shortened
    so that 12 designs fit in about 5 hours on 2 CPU cores (an estimate from the bundled model's
    6-minute epochs on 1,244 pages: ~18 min training and ~8 min timing per design)."""

    init: str = "minilm"  # "minilm", "random" (tiny config below) or a LayoutLMv3 folder
    layers: int = 6  # random init only
    hidden: int = 64  # random init only
    heads: int = 4  # random init only
    patch_size: int = 16  # random init only
    max_length: int = 192  # text tokens per page
    image_size: int = 128
    epochs: int = 3
    batch_size: int = 16
    lr_pretrained: float = 1e-4  # the bundled model's rate
    lr_new: float = 1e-3
    patience: int = 2
    gamma: float = 0.7
    max_train_pages: int | None = 1000
    max_eval_pages: int | None = None  # cap on validation and test pages
    seeds: int = 1
    batch_sizes: tuple[int, ...] = (32, 1)
    time_points: int = 3  # validation Pareto-front points timed per design (besides selections)
    repeats: int = 2  # timing repeats (median of paired ratios)
    min_seconds: float = 2.0  # shorter full-depth runs are timed several copies of the pages over
    time_pages_bs1: int | None = 128  # pages timed at batch size 1 (the slowest runs)
    time_pages: int | None = None  # pages timed at larger batch sizes (None = every test page)
    tolerance: float = 0.002  # accuracy loss against full depth still called "keeps accuracy"
    bootstrap: int = 2000
    policies: tuple[str, ...] = POLICY_KINDS
    extra: dict[str, Any] = field(default_factory=dict)  # recorded, not used (e.g. corpus info)

    @property
    def primary_batch(self) -> int:
        """The batch size the best design is chosen at: 32 when timed, else the first."""
        return 32 if 32 in self.batch_sizes else self.batch_sizes[0]

    def training_key(self, design: Design, num_layers: int, seed: int, data_key: str) -> str:
        """A short hash of everything that changes a trained model: a rerun with the same key
        reuses the stored run; designs whose exits coincide at this depth share one."""
        spec = {
            "exits": design.exits(num_layers),
            "strategy": design.strategy,
            "seed": seed,
            "data": data_key,
            **{
                k: v
                for k, v in asdict(self).items()
                if k
                not in {
                    "seeds",
                    "batch_sizes",
                    "time_points",
                    "repeats",
                    "min_seconds",
                    "time_pages_bs1",
                    "time_pages",
                    "tolerance",
                    "bootstrap",
                    "policies",
                    "extra",
                }
            },
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]


QUICK = StudySettings(
    init="random",
    layers=6,
    hidden=64,
    heads=4,
    patch_size=8,
    max_length=128,
    image_size=32,
    epochs=8,
    batch_size=8,
    lr_new=2e-3,
    patience=8,  # no early stopping: slow starters would stop at chance
    max_train_pages=None,
    seeds=1,
    time_points=3,
    repeats=2,
    min_seconds=0.5,
    time_pages_bs1=None,
)
QUICK_PAGES = {"train": 30, "validation": 12, "test": 20}  # generated pages per class and split
# A tiny transformer trained from scratch on a few hundred pages stays near chance on 16
# classes; on four distinct ones it reaches ~75% in 8 epochs, with exits of graded accuracy.
QUICK_CLASSES = ("email", "form", "invoice", "scientific_publication")


def data_key(corpus: Path) -> str:
    """Identity of a built corpus: its folder and the sizes of its split files."""
    corpus = Path(corpus)
    sizes = {p.name: p.stat().st_size for p in sorted(corpus.glob("*.parquet"))}
    return hashlib.sha256(json.dumps([str(corpus.resolve()), sizes]).encode()).hexdigest()[:10]
