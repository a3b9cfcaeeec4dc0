"""Train one design once per seed and store what the study needs from it: the checkpoint (with
validation-fitted temperatures), and every exit's validation and test logits.

A run lives in `OUT/runs/<key>-s<seed>/`: `model/` (config.json + model.safetensors),
`logits.safetensors` and `run.json`. A finished run is loaded, never retrained; an
interrupted one resumes from the trainer's own per-epoch state in `work/`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from docexit.benchmarks.study.grid import Design, StudySettings
from docexit.models.calibration import fit_temperatures
from docexit.models.checkpoint import load_checkpoint, save_checkpoint
from docexit.models.factory import build_model, init_depth
from docexit.models.model import EarlyExitModel
from docexit.models.tokenizer import minilm_tokenizer_dir
from docexit.models.training.dataset import PageDataset
from docexit.models.training.strategies import StrategyConfig
from docexit.models.training.trainer import TrainConfig, Trainer, collect_logits
from docexit.transforms.featurize import Featurizer
from docexit.transforms.records import LABELS

RUN_FILE = "run.json"
LOGITS_FILE = "logits.safetensors"


@dataclass(frozen=True)
class SplitLogits:
    """Every exit's stored outputs on one split, pages in the split's order."""

    logits: torch.Tensor  # (E, N, C), uncalibrated
    gates: torch.Tensor | None  # (E, N, 2) or None (no gate heads)
    labels: torch.Tensor  # (N,)


@dataclass(frozen=True)
class Run:
    """One trained (design, seed): where it is stored and what it produced."""

    key: str
    seed: int
    directory: Path
    exit_layers: list[int]
    num_layers: int
    temperatures: list[float]  # fitted on validation logits, one per exit
    train_seconds: float
    history: list[dict[str, Any]]
    val: SplitLogits
    test: SplitLogits

    @property
    def model_dir(self) -> Path:
        return self.directory / "model"

    def load_model(self, device: torch.device) -> EarlyExitModel:
        return load_checkpoint(self.model_dir, device=device).eval()


@dataclass(frozen=True)
class StudyData:
    """The corpus splits every design trains and is evaluated on."""

    train: PageDataset
    validation: PageDataset
    test: PageDataset
    label_names: list[str]


def load_data(corpus: Path, settings: StudySettings) -> StudyData:
    """The corpus splits, featurized for the study's text length and image size."""
    # a folder init brings its own tokenizer; `minilm` and `random` use MiniLM's vocabulary
    init = Path(settings.init)
    tokenizer_dir = init if init.is_dir() else minilm_tokenizer_dir()
    featurizer = Featurizer(tokenizer_dir, settings.max_length, settings.image_size)
    limit, labels = settings.max_eval_pages, list(LABELS)  # the study's models: RVL-CDIP's 16
    return StudyData(
        train=PageDataset.from_split(
            corpus, "train", featurizer, labels, settings.max_train_pages, spread=True
        ),
        validation=PageDataset.from_split(
            corpus, "validation", featurizer, labels, limit, spread=True
        ),
        test=PageDataset.from_split(corpus, "test", featurizer, labels, limit, spread=True),
        label_names=labels,
    )


def backbone_depth(settings: StudySettings) -> int:
    """Encoder layers of the backbone `settings.init` builds (before building it)."""
    return init_depth(settings.init, {"num_hidden_layers": settings.layers})


def build_design(design: Design, settings: StudySettings, label_names: list[str]) -> EarlyExitModel:
    """A fresh model of `design` (a tiny LayoutLMv3 for `init="random"`)."""
    overrides = None
    if settings.init == "random":
        overrides = {
            "hidden_size": settings.hidden,
            "num_hidden_layers": settings.layers,
            "num_attention_heads": settings.heads,
            "intermediate_size": 2 * settings.hidden,
            "max_position_embeddings": settings.max_length + 1,  # [PAD] = 0 is position 0
            "patch_size": settings.patch_size,
            "has_relative_attention_bias": False,
            "has_spatial_attention_bias": False,
            # attention dropout samples a (B, heads, S, S) mask per layer: most of a tiny
            # model's CPU step; the tiny config trains without backbone dropout
            "attention_probs_dropout_prob": 0.0,
            "hidden_dropout_prob": 0.0,
        }
    return build_model(
        init=settings.init,
        placement=design.placement,
        modality=design.modality,
        head=design.head,
        max_length=settings.max_length,
        image_size=settings.image_size,
        label_names=label_names,
        backbone_overrides=overrides,
        visual_exit=None,
    )


def train_config(design: Design, settings: StudySettings, seed: int, device: str) -> TrainConfig:
    return TrainConfig(
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr_pretrained=settings.lr_pretrained,
        lr_new=settings.lr_new,
        patience=settings.patience,
        seed=seed,
        device=device,
        strategy=StrategyConfig(name=design.strategy, gamma=settings.gamma),
        max_train_pages=settings.max_train_pages,
        max_eval_pages=settings.max_eval_pages,
    )


def _save_logits(path: Path, val: SplitLogits, test: SplitLogits) -> None:
    tensors = {}
    for split, stored in (("val", val), ("test", test)):
        tensors[f"{split}_logits"] = stored.logits.contiguous()
        tensors[f"{split}_labels"] = stored.labels.contiguous()
        if stored.gates is not None:
            tensors[f"{split}_gates"] = stored.gates.contiguous()
    save_file(tensors, str(path))


def _load_logits(path: Path) -> tuple[SplitLogits, SplitLogits]:
    tensors = load_file(str(path))
    return tuple(  # type: ignore[return-value]
        SplitLogits(tensors[f"{s}_logits"], tensors.get(f"{s}_gates"), tensors[f"{s}_labels"])
        for s in ("val", "test")
    )


def load_run(directory: Path) -> Run | None:
    """A finished run stored in `directory`, or None."""
    record = directory / RUN_FILE
    if not record.is_file() or not (directory / LOGITS_FILE).is_file():
        return None
    info = json.loads(record.read_text())
    val, test = _load_logits(directory / LOGITS_FILE)
    return Run(
        key=info["key"],
        seed=info["seed"],
        directory=directory,
        exit_layers=info["exit_layers"],
        num_layers=info["num_layers"],
        temperatures=info["temperatures"],
        train_seconds=info["train_seconds"],
        history=info["history"],
        val=val,
        test=test,
    )


def train_run(
    design: Design,
    seed: int,
    key: str,
    settings: StudySettings,
    data: StudyData,
    directory: Path,
    device: str,
) -> Run:
    """The stored run in `directory`, training it first when it is not there."""
    stored = load_run(directory)
    if stored is not None:
        return stored
    torch.manual_seed(seed)
    model = build_design(design, settings, data.label_names)
    work = directory / "work"
    trainer = Trainer(
        model, data.train, data.validation, work, train_config(design, settings, seed, device)
    )
    start = time.perf_counter()
    trainer.resume()
    model = trainer.fit().eval()
    seconds = time.perf_counter() - start
    eval_batch = settings.batch_size * 2
    val = SplitLogits(*collect_logits(model, data.validation, eval_batch, trainer.device))
    test = SplitLogits(*collect_logits(model, data.test, eval_batch, trainer.device))
    temperatures = fit_temperatures(val.logits, val.labels)
    model.config.temperatures = [float(t) for t in temperatures]
    save_checkpoint(model, directory / "model")
    _save_logits(directory / LOGITS_FILE, val, test)
    info = {
        "key": key,
        "seed": seed,
        "design": design.factors(),
        "exit_layers": list(model.exit_layers),
        "num_layers": model.num_layers,
        "temperatures": list(model.config.temperatures),
        "train_seconds": seconds,
        "history": [vars(h) for h in trainer.history],
    }
    (directory / RUN_FILE).write_text(json.dumps(info, indent=2))
    shutil.rmtree(work, ignore_errors=True)  # per-epoch checkpoints: the run is complete
    loaded = load_run(directory)
    assert loaded is not None
    return loaded


_WORKER_DATA: dict[tuple, StudyData] = {}


def train_job(job: tuple[Design, int, str, StudySettings, Path, Path, str, int]) -> str:
    """Train one run in a worker process (`train_run`); the corpus is loaded once per process."""
    design, seed, key, settings, corpus, directory, device, threads = job
    torch.set_num_threads(threads)
    data_id = (str(corpus), settings.max_length, settings.image_size)
    data_id += (settings.max_train_pages, settings.max_eval_pages)
    if data_id not in _WORKER_DATA:
        _WORKER_DATA[data_id] = load_data(corpus, settings)
    train_run(design, seed, key, settings, _WORKER_DATA[data_id], directory, device)
    return key


@contextmanager
def quiet_workers() -> Iterator[None]:
    """Worker processes started inside this block show no progress bars (tqdm reads
    `TQDM_DISABLE` when it is imported, so the running process keeps its own)."""
    before = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = before
