"""Train an early-exit model on a built corpus: all strategies, one loop.

CPU by default, CUDA with bf16 autocast when present. Seeded, validated every epoch, early
stopping on the final classifier's validation accuracy, resumable: each epoch writes the model
(safetensors) and the optimizer state (safetensors + JSON), never a pickle.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from docexit.models.batch import ModelBatch
from docexit.models.checkpoint import load_checkpoint, save_checkpoint
from docexit.models.device import resolve_device, respect_omp_thread_limit
from docexit.models.model import EarlyExitModel
from docexit.models.training.dataset import PageDataset, collate_labelled
from docexit.models.training.metrics import accuracy_per_exit
from docexit.models.training.strategies import (
    StrategyConfig,
    exit_loss,
    exit_weights,
    visual_exit_loss,
)

POOL_BATCHES = 8  # training batches are length-sorted within pools of this many batches
TRAINER_STATE = "trainer_state.json"
OPTIMIZER_STATE = "optimizer.safetensors"


@dataclass
class TrainConfig:
    epochs: int = 6  # upper bound; early stopping may end sooner
    batch_size: int = 16
    lr_pretrained: float = 5e-5  # parameters copied from a pretrained backbone
    lr_new: float = 1e-3  # fresh parameters: layout and patch embeddings, exit heads
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    patience: int = 2  # epochs without a better validation accuracy before stopping
    seed: int = 0
    device: str = "auto"  # "auto" = CUDA when present, else CPU
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    max_train_pages: int | None = None  # cap for quick runs and tests
    max_eval_pages: int | None = None
    keep_best: bool = True  # fit() returns the best epoch by validation; False: the last
    # two_stage on an already trained model (`train --from-model`): its backbone and final head
    # stay frozen, only the exits stage runs
    trained_backbone: bool = False


@dataclass
class EpochResult:
    epoch: int
    train_loss: float
    val_accuracy_per_exit: list[float]
    seconds: float


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def autocast(device: torch.device):
    """bf16 autocast on CUDA, nothing on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def iterate_batches(
    dataset: PageDataset, batch_size: int, shuffle: bool, generator: torch.Generator | None = None
) -> Iterator[tuple[ModelBatch, torch.Tensor]]:
    """Batches of pages of similar length. Training shuffles first and sorts by length only within
    pools of `POOL_BATCHES` batches ("sortish"), so that a batch still mixes classes: pages of one
    class tend to have similar lengths, and batches sorted over the whole split would each hold
    one class and the gradients would chase it."""
    lengths = dataset.token_counts()
    if shuffle:
        order = torch.randperm(len(lengths), generator=generator).numpy()
        pool = batch_size * POOL_BATCHES
        order = np.concatenate(
            [
                chunk[np.argsort(lengths[chunk], kind="stable")]
                for chunk in np.array_split(order, max(1, math.ceil(len(order) / pool)))
            ]
        )
    else:
        order = np.argsort(lengths, kind="stable")
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        permutation = torch.randperm(len(chunks), generator=generator).tolist()
        chunks = [chunks[i] for i in permutation]
    for chunk in chunks:
        yield collate_labelled([dataset[int(i)] for i in chunk])


@torch.no_grad()
def collect_logits(
    model: EarlyExitModel, dataset: PageDataset, batch_size: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Every exit's logits over a split, pages in the dataset's order: logits (E, N, C), gates
    (E, N, 2) or None, labels (N,)."""
    model.eval()
    logits, gates, labels = [], [], []
    for batch, batch_labels in tqdm(
        iterate_batches(dataset, batch_size, shuffle=False),
        total=math.ceil(len(dataset) / batch_size),
        desc="evaluate",
        leave=False,
    ):
        with autocast(device):
            outputs = model(batch.to(device))
        logits.append(outputs.logits.float().cpu())
        if outputs.gate_logits is not None:
            gates.append(outputs.gate_logits.float().cpu())
        labels.append(batch_labels)
    # batches ran in length order; put the pages back in the dataset's order
    order = torch.from_numpy(np.argsort(dataset.token_counts(), kind="stable"))  # (N,)
    restore = torch.empty_like(order)
    restore[order] = torch.arange(len(order))
    exit_logits = torch.cat(logits, dim=1)[:, restore]  # (E, N, C)
    if model.text_prior is not None:  # what the pipeline reports: each exit pooled with text
        text = model.text_prior.page_probabilities(dataset.texts)  # (N, 2, C)
        exit_logits = model.text_prior.combine_exits(exit_logits, torch.from_numpy(text))
    return (
        exit_logits,
        torch.cat(gates, dim=1)[:, restore] if gates else None,
        torch.cat(labels)[restore],
    )


class Trainer:
    """Runs one training job; `fit()` returns the best model (by validation accuracy)."""

    def __init__(
        self,
        model: EarlyExitModel,
        train_set: PageDataset,
        val_set: PageDataset,
        out_dir: Path,
        config: TrainConfig,
    ):
        self.model = model
        self.train_set, self.val_set = train_set, val_set
        self.out_dir = Path(out_dir)
        self.config = config
        self.device = resolve_device(config.device)
        self.model.to(self.device)
        self.weights = exit_weights(model.parameter_counts_to_exit(), config.strategy.gamma)
        self.history: list[EpochResult] = []
        self.skipped_steps = 0
        self.best_accuracy = -1.0
        self.start_epoch = 0

    def _stages(self) -> list[tuple[str, int]]:
        """(stage, epochs): two-stage trains the backbone first, then the exits alone."""
        if self.config.strategy.name == "two_stage" and self.config.trained_backbone:
            return [("exits", self.config.epochs)]
        if self.config.strategy.name == "two_stage":
            first = max(1, self.config.epochs // 2)
            return [("backbone", first), ("exits", max(1, self.config.epochs - first))]
        return [("joint", self.config.epochs)]

    def _set_trainable(self, stage: str) -> None:
        final_head = f"exits.{len(self.model.exits) - 1}."
        for name, parameter in self.model.named_parameters():
            is_exit = self.model.is_exit_parameter(name)
            if stage == "backbone":
                parameter.requires_grad_(not is_exit)
            elif stage == "exits":  # the final classifier stays as the backbone stage left it
                parameter.requires_grad_(is_exit and not name.startswith(final_head))
            else:
                parameter.requires_grad_(True)

    def _optimizer(
        self, steps: int
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
        pretrained, fresh = [], []
        for name, parameter in self.model.named_parameters():
            if parameter.requires_grad:
                (pretrained if self.model.is_pretrained_parameter(name) else fresh).append(
                    parameter
                )
        groups = [
            {"params": pretrained, "lr": self.config.lr_pretrained},
            {"params": fresh, "lr": self.config.lr_new},
        ]
        optimizer = torch.optim.AdamW(
            [g for g in groups if g["params"]], weight_decay=self.config.weight_decay
        )
        warmup = max(1, int(self.config.warmup_fraction * steps))

        def schedule(step: int) -> float:  # linear warm-up, then cosine decay to 10%
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, steps - warmup))
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    def fit(self) -> EarlyExitModel:
        # oneDNN's CPU convolution backward returned garbage (up to 1e31, run to run different)
        # for the patch embedding's weight gradient here; the native kernel is exact.
        with torch.backends.mkldnn.flags(enabled=self.device.type != "cpu"):
            return self._fit()

    def _fit(self) -> EarlyExitModel:
        respect_omp_thread_limit()
        seed_everything(self.config.seed)
        epoch_index = 0
        for stage, epochs in self._stages():
            self._set_trainable(stage)
            steps_per_epoch = math.ceil(len(self.train_set) / self.config.batch_size)
            optimizer, scheduler = self._optimizer(steps_per_epoch * epochs)
            stale = 0
            for _ in range(epochs):
                if epoch_index < self.start_epoch:  # resumed: this epoch is already done
                    epoch_index += 1
                    for _ in range(steps_per_epoch):
                        scheduler.step()
                    continue
                if epoch_index == self.start_epoch and self.start_epoch > 0:
                    self._load_optimizer(optimizer)
                result = self._run_epoch(epoch_index, stage, optimizer, scheduler)
                self.history.append(result)
                accuracy = result.val_accuracy_per_exit[-1]
                if stage == "exits":  # the final head is frozen: judge the exits
                    accuracy = float(np.mean(result.val_accuracy_per_exit))
                improved = accuracy > self.best_accuracy
                if improved:
                    self.best_accuracy, stale = accuracy, 0
                    save_checkpoint(self.model, self.out_dir / "best")
                else:
                    stale += 1
                epoch_index += 1
                self._save_state(epoch_index, optimizer)
                if stale >= self.config.patience:
                    print(
                        f"early stopping after epoch {epoch_index}: no better validation accuracy"
                    )
                    break
            if stage == "backbone":  # exits start from the best backbone
                self.best_accuracy = -1.0
                self.model = load_checkpoint(self.out_dir / "best", device=self.device)
        if not self.config.keep_best:
            return self.model.eval()
        return load_checkpoint(self.out_dir / "best", device=self.device)

    def _run_epoch(self, epoch: int, stage: str, optimizer, scheduler) -> EpochResult:
        start = time.perf_counter()
        self.model.train()
        epoch_seed = self.config.seed * 1000 + epoch
        torch.manual_seed(epoch_seed)  # dropout masks depend on the epoch only: resumable
        generator = torch.Generator().manual_seed(epoch_seed)
        total_loss, batches = 0.0, 0
        progress = tqdm(
            iterate_batches(self.train_set, self.config.batch_size, True, generator),
            total=math.ceil(len(self.train_set) / self.config.batch_size),
            desc=f"epoch {epoch + 1} ({stage})",
        )
        for batch, labels in progress:
            batch, labels = batch.to(self.device), labels.to(self.device)
            with autocast(self.device):
                outputs = self.model(batch)
            loss = exit_loss(
                outputs.logits.float(),
                None if outputs.gate_logits is None else outputs.gate_logits.float(),
                labels,
                self.weights.to(self.device),
                self.config.strategy,
                stage,
            )
            if self.model.visual_exit is not None:  # the image-only exit before OCR
                visual = self.model.visual_exit(batch.pixel_values)  # (B, C)
                loss = loss + visual_exit_loss(visual.float(), labels, self.config.strategy, stage)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            if torch.isfinite(grad_norm):
                optimizer.step()
            else:  # one bad batch must not poison the weights
                self.skipped_steps += 1
                print(f"skipped a step with a non-finite gradient ({self.skipped_steps} so far)")
            scheduler.step()
            total_loss, batches = total_loss + loss.item(), batches + 1
            progress.set_postfix(loss=f"{total_loss / batches:.3f}")
        logits, _, labels = collect_logits(
            self.model, self.val_set, self.config.batch_size * 2, self.device
        )
        accuracies = accuracy_per_exit(logits, labels)
        print(
            f"epoch {epoch + 1}: loss {total_loss / max(1, batches):.4f}, validation accuracy "
            + " ".join(f"{a:.3f}" for a in accuracies)
        )
        return EpochResult(
            epoch + 1, total_loss / max(1, batches), accuracies, time.perf_counter() - start
        )

    def _save_state(self, next_epoch: int, optimizer: torch.optim.Optimizer) -> None:
        save_checkpoint(self.model, self.out_dir / "last")
        names = {id(p): n for n, p in self.model.named_parameters()}
        tensors: dict[str, torch.Tensor] = {}
        for group in optimizer.param_groups:
            for parameter in group["params"]:
                for key, value in optimizer.state.get(parameter, {}).items():
                    tensors[f"{names[id(parameter)]}::{key}"] = (
                        value.detach().cpu().reshape(-1).clone()
                        if key == "step"
                        else value.detach().cpu().contiguous()
                    )
        save_file(tensors, str(self.out_dir / "last" / OPTIMIZER_STATE))
        state = {
            "next_epoch": next_epoch,
            "best_accuracy": self.best_accuracy,
            "history": [asdict(h) for h in self.history],
            "config": _jsonable(asdict(self.config)),
        }
        (self.out_dir / "last" / TRAINER_STATE).write_text(json.dumps(state, indent=2))

    def _load_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        path = self.out_dir / "last" / OPTIMIZER_STATE
        if not path.is_file():
            return
        stored = load_file(str(path))
        by_name = dict(self.model.named_parameters())
        for key, value in stored.items():
            name, state_key = key.split("::")
            parameter = by_name[name]
            value = value.reshape(()) if state_key == "step" else value.to(parameter.device)
            optimizer.state[parameter][state_key] = value

    def resume(self) -> bool:
        """Continue from `out_dir/last` when it holds a trainer state; True when resumed."""
        state_path = self.out_dir / "last" / TRAINER_STATE
        if not state_path.is_file():
            return False
        state = json.loads(state_path.read_text())
        self.model = load_checkpoint(self.out_dir / "last", device=self.device)
        self.start_epoch = state["next_epoch"]
        self.best_accuracy = state["best_accuracy"]
        self.history = [EpochResult(**h) for h in state["history"]]
        print(f"resuming from epoch {self.start_epoch + 1}")
        return True


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def training_summary(history: list[EpochResult]) -> str:
    """One line per epoch."""
    return "\n".join(
        f"epoch {h.epoch}: loss {h.train_loss:.4f}, val acc final {h.val_accuracy_per_exit[-1]:.3f}, "
        f"{h.seconds:.0f} s"
        for h in history
    )


def load_datasets(
    corpus_dir: Path, featurizer, config: TrainConfig, label_names: list[str]
) -> tuple[PageDataset, PageDataset]:
    """Train and validation splits with the caps of `config`, labelled in the model's class
    order (`label_names`)."""
    train = PageDataset.from_split(
        corpus_dir, "train", featurizer, label_names, config.max_train_pages, spread=True
    )
    validation = PageDataset.from_split(
        corpus_dir, "validation", featurizer, label_names, config.max_eval_pages
    )
    return train, validation


__all__ = [
    "TrainConfig",
    "Trainer",
    "autocast",
    "collect_logits",
    "load_datasets",
    "training_summary",
]
