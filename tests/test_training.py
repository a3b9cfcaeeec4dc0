"""Training strategies, the trainer (resume, early stopping), calibration + policy choice, and the
model card, on a tiny model and a tiny corpus made from the generator's own words (no OCR)."""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from docexit.corpus.store import CORPUS_SCHEMA, encode_page_image
from docexit.corpus.synth import generate_page
from docexit.models.checkpoint import load_checkpoint
from docexit.models.factory import build_model
from docexit.models.tokenizer import minilm_tokenizer_dir
from docexit.models.training.dataset import PageDataset
from docexit.models.training.evaluation import (
    EvaluationReport,
    calibrate_and_choose_policy,
    evaluate_logits,
)
from docexit.models.training.model_card import record_evaluation
from docexit.models.training.strategies import STRATEGIES, StrategyConfig, exit_loss, exit_weights
from docexit.models.training.trainer import TrainConfig, Trainer, collect_logits
from docexit.models.training.visual_training import add_visual_exit
from docexit.transforms.featurize import Featurizer
from docexit.transforms.records import LABELS

TINY_BACKBONE = {
    "hidden_size": 32,
    "num_hidden_layers": 4,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 130,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "has_relative_attention_bias": False,
    "has_spatial_attention_bias": False,
}
CLASSES = LABELS[:4]  # four classes keep the tiny corpus learnable in a few steps


def tiny_table(pages_per_class: int, seed: int) -> pa.Table:
    rows = []
    for label in CLASSES:
        for index in range(pages_per_class):
            page = generate_page(label, random.Random(f"{seed}-{label}-{index}"), degraded=False)
            rows.append(
                {
                    "source": f"{label}_{index}.png",
                    "page": 0,
                    "label": label,
                    "label_id": CLASSES.index(label),
                    "split": "train",
                    "content_hash": f"{seed}{label}{index}",
                    "width": page.image.width,
                    "height": page.image.height,
                    "words": page.words,
                    "boxes": [list(box) for box in page.boxes],
                    "ocr_ms": 0.0,
                    "image_png": encode_page_image(page.image),
                }
            )
    return pa.Table.from_pylist(rows, schema=CORPUS_SCHEMA)


@pytest.fixture(scope="module")
def featurizer() -> Featurizer:
    return Featurizer(minilm_tokenizer_dir(), max_length=128, image_size=32)


@pytest.fixture(scope="module")
def datasets(featurizer: Featurizer) -> tuple[PageDataset, PageDataset]:
    train = PageDataset(tiny_table(6, seed=1), featurizer, list(CLASSES))
    return train, PageDataset(tiny_table(3, seed=2), featurizer, list(CLASSES))


def tiny_model(head: str = "ramp", label_names: list[str] | None = None):
    torch.manual_seed(0)
    return build_model(
        init="random",
        placement=[1, 2],
        modality="independent",
        head=head,
        max_length=128,
        image_size=32,
        label_names=list(label_names or CLASSES),
        backbone_overrides={**TINY_BACKBONE, "patch_size": 8},
    )


def test_exit_weights_follow_inverse_parameters_and_gamma():
    weights = exit_weights([100, 200, 400, 800], gamma=0.7)  # three exits + final
    assert weights[-1] == pytest.approx(0.3)
    assert weights[:-1].sum() == pytest.approx(0.7)
    assert weights[0] / weights[1] == pytest.approx(2.0)  # half the parameters: twice the weight
    assert exit_weights([50], gamma=0.7).tolist() == [1.0]  # final classifier alone


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("with_gates", [False, True])
def test_every_strategy_gives_a_finite_loss_with_gradients(strategy: str, with_gates: bool):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 6, 5, generator=generator, requires_grad=True)  # (E, B, C)
    gates = torch.randn(4, 6, 2, generator=generator, requires_grad=True) if with_gates else None
    labels = torch.randint(0, 5, (6,), generator=generator)
    weights = exit_weights([10, 20, 30, 40], gamma=0.7)
    config = StrategyConfig(name=strategy)
    stages = ["backbone", "exits"] if strategy == "two_stage" else ["joint"]
    for stage in stages:
        loss = exit_loss(logits, gates, labels, weights, config, stage)
        assert torch.isfinite(loss)
        (grad,) = torch.autograd.grad(loss, logits)
        final_has_grad = bool(grad[-1].abs().sum() > 0)
        exits_have_grad = bool(grad[:-1].abs().sum() > 0)
        if stage == "backbone":  # two-stage, stage 1: only the final classifier learns
            assert final_has_grad and not exits_have_grad
        elif stage == "exits":  # two-stage, stage 2: only the exits learn
            assert exits_have_grad and not final_has_grad
        else:
            assert final_has_grad and exits_have_grad


def test_self_distillation_pulls_exits_towards_the_final_head():
    labels = torch.tensor([0, 1])
    final = torch.tensor([[4.0, 0.0], [0.0, 4.0]])
    agree = torch.stack([final, final])  # (E=2, B, C)
    disagree = torch.stack([-final, final])
    config = StrategyConfig(name="self_distillation", distill_alpha=0.0)
    weights = exit_weights([1, 2], gamma=0.7)
    assert exit_loss(agree, None, labels, weights, config) < exit_loss(
        disagree, None, labels, weights, config
    )


def test_unknown_strategy_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown strategy"):
        StrategyConfig(name="magic")


def train(tmp_path, datasets, epochs: int, strategy: str = "joint", resume: bool = False):
    train_set, val_set = datasets
    config = TrainConfig(
        epochs=epochs,
        batch_size=4,
        lr_new=3e-3,
        patience=10,
        seed=0,
        device="cpu",
        strategy=StrategyConfig(name=strategy),
    )
    trainer = Trainer(tiny_model(), train_set, val_set, tmp_path, config)
    if resume:
        assert trainer.resume()
    return trainer, trainer.fit()


def test_training_learns_and_keeps_the_best_checkpoint(tmp_path, datasets):
    trainer, model = train(tmp_path, datasets, epochs=5)
    losses = [epoch.train_loss for epoch in trainer.history]
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert losses[-1] < losses[0]
    assert (tmp_path / "best" / "model.safetensors").is_file()
    assert (tmp_path / "last" / "optimizer.safetensors").is_file()
    logits, _, labels = collect_logits(model, datasets[1], 8, torch.device("cpu"))
    assert logits.shape == (5, len(datasets[1]), len(CLASSES))  # text, vision, layer 1, 2, final
    final_accuracy = (logits[-1].argmax(-1) == labels).float().mean().item()
    assert final_accuracy == pytest.approx(trainer.best_accuracy)
    assert final_accuracy > 1.5 / len(CLASSES)  # clearly above chance


class Interrupted(Exception):
    pass


class TrainerKilledAfterOneEpoch(Trainer):
    """Stands for a job killed after its first epoch."""

    def _run_epoch(self, epoch, *args):
        if epoch >= 1:
            raise Interrupted
        return super()._run_epoch(epoch, *args)


def test_resumed_training_equals_uninterrupted_training(tmp_path, datasets):
    _, straight = train(tmp_path / "straight", datasets, epochs=2)
    config = TrainConfig(epochs=2, batch_size=4, lr_new=3e-3, patience=10, device="cpu")
    killed = TrainerKilledAfterOneEpoch(tiny_model(), *datasets, tmp_path / "resumed", config)
    with pytest.raises(Interrupted):
        killed.fit()
    trainer, resumed = train(tmp_path / "resumed", datasets, epochs=2, resume=True)
    assert [h.epoch for h in trainer.history] == [1, 2]
    for (name, a), (_, b) in zip(
        straight.state_dict().items(), resumed.state_dict().items(), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-6), f"{name} differs by {(a - b).abs().max():.2e}"


def test_two_stage_freezes_the_backbone_in_its_second_stage(tmp_path, datasets):
    trainer, model = train(tmp_path, datasets, epochs=2, strategy="two_stage")
    stage_one = load_checkpoint(tmp_path / "last")  # after both stages
    assert [h.epoch for h in trainer.history] == [1, 2]
    best_backbone = model.backbone.state_dict()
    for name, tensor in stage_one.backbone.state_dict().items():
        torch.testing.assert_close(tensor, best_backbone[name])


def test_calibration_policy_and_report(tmp_path, datasets):
    _, model = train(tmp_path / "train", datasets, epochs=3)
    choice = calibrate_and_choose_policy(model, datasets[1], kind="max_prob", batch_size=8)
    assert len(model.config.temperatures) == 5 and all(t > 0 for t in model.config.temperatures)
    assert model.config.policy["name"] == "max_prob"
    assert choice.selected.val_accuracy >= choice.selected.full_accuracy - 1e-9
    logits, gates, labels = collect_logits(model, datasets[1], 8, torch.device("cpu"))
    report = evaluate_logits(model, logits, gates, labels, tmp_path / "report")
    assert report.n == len(datasets[1])
    assert report.accuracy_early_exit >= report.accuracy_full - 1e-9  # chosen on this split
    assert sum(row.fraction_exiting for row in report.exits) == pytest.approx(1.0)
    assert [row.layer for row in report.exits] == [0, 0, 1, 2, 4]
    assert report.visual_exit is None and "visual_exit" not in report.to_dict()  # no CNN
    for name in ("report.json", "reliability.png", "exit_histogram.png"):
        assert (tmp_path / "report" / name).stat().st_size > 0
    written = json.loads((tmp_path / "report" / "report.json").read_text())
    assert written == report.to_dict() and EvaluationReport.from_dict(written) == report

    model.save_pretrained(tmp_path / "model")
    card = record_evaluation(tmp_path / "model", "Validation", "docexit evaluate ...", report)
    text = card.read_text()
    assert "## Validation" in text and f"{report.accuracy_full:.3f}" in text


def test_joint_training_trains_the_visual_exit_and_keeps_dataset_order(tmp_path, datasets):
    model = tiny_model()
    add_visual_exit(model, {"image_size": 32, "widths": [4, 8]})
    before = {k: v.clone() for k, v in model.visual_exit.state_dict().items()}
    config = TrainConfig(epochs=1, batch_size=4, lr_new=3e-3, patience=10, device="cpu")
    Trainer(model, *datasets, tmp_path, config).fit()
    trained = load_checkpoint(tmp_path / "best")
    assert trained.config.visual_exit["widths"] == [4, 8]
    after = trained.visual_exit.state_dict()
    assert not torch.equal(after["classifier.weight"], before["classifier.weight"])
    assert not torch.equal(after["features.0.0.weight"], before["features.0.0.weight"])
    _, _, labels = collect_logits(trained, datasets[1], 2, torch.device("cpu"))
    assert labels.tolist() == datasets[1].labels.tolist()  # pages in the dataset's order


def test_train_command_adds_a_visual_exit_to_a_trained_model(tmp_path):
    """`docexit train --from-model`: recalibrate, train the visual exit alone, save, evaluate."""
    import argparse
    import json

    import pyarrow.parquet as pq

    from docexit.models.checkpoint import save_checkpoint
    from docexit.pipeline.cli import train as train_cli

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for split, (pages, seed) in {"train": (4, 1), "validation": (2, 2), "test": (2, 3)}.items():
        pq.write_table(tiny_table(pages, seed), corpus / f"{split}.parquet")
    save_checkpoint(tiny_model(), tmp_path / "base")
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    args = parser.parse_args(
        ["--corpus", str(corpus), "--out", str(tmp_path / "out"), "--from-model"]
        + [str(tmp_path / "base"), "--visual-epochs", "2", "--batch-size", "4", "--device", "cpu"]
    )
    assert train_cli.main(args) == 0
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["visual_exit"]["kind"] == "cnn" and config["visual_exit"]["temperature"] > 0
    training = json.loads((tmp_path / "out" / "training.json").read_text())
    assert len(training["visual_history"]) == 2 and training["history"] == []
    assert "--from-model" in training["command"] and "--placement" not in training["command"]
    report = EvaluationReport.from_dict(
        json.loads((tmp_path / "out" / "report" / "report.json").read_text())
    )
    assert report.visual_exit.accuracy_always_ocr == report.accuracy_early_exit
    assert 0.0 <= report.visual_exit.skip_ocr_share <= 1.0


def test_engine_benchmark_reads_several_corpus_splits(tmp_path):
    """`docexit bench engine --corpus DIR --split test,validation`: test pages first, then
    validation pages, up to the page limit."""
    import pyarrow.parquet as pq

    from docexit.benchmarks.engine_setup import corpus_pages

    for split, (pages, seed) in {"validation": (2, 2), "test": (1, 3)}.items():
        pq.write_table(tiny_table(pages, seed), tmp_path / f"{split}.parquet")
    model = tiny_model()
    both = corpus_pages(tmp_path, "test,validation", model, limit=100)
    test_only = corpus_pages(tmp_path, "test", model, limit=100)
    assert len(test_only) == len(CLASSES) and len(both) == 3 * len(CLASSES)
    for got, want in zip(both, test_only, strict=False):
        assert list(got[0].input_ids) == list(want[0].input_ids) and got[1] == want[1]
    assert len(corpus_pages(tmp_path, "test,validation", model, limit=6)) == 6


def test_model_card_lists_every_training_step(tmp_path):
    """A model trained, then `--from-model` twice: the card shows the three commands in order,
    the first run's epochs and each step's note."""
    import json

    from docexit.models.checkpoint import save_checkpoint
    from docexit.models.training.model_card import training_chain, write_model_card

    save_checkpoint(tiny_model(), tmp_path)
    epoch = {"epoch": 1, "train_loss": 1.5, "val_accuracy_per_exit": [0.5, 0.6], "seconds": 3.0}
    first = {"command": "docexit train --epochs 1", "history": [epoch], "note": "resumed once"}
    second = {"command": "docexit train --from-model A", "history": [], "base_training": first}
    third = {"command": "docexit train --from-model B", "history": [], "base_training": second}
    assert [step["command"] for step in training_chain(third)] == [
        first["command"],
        second["command"],
        third["command"],
    ]
    (tmp_path / "training.json").write_text(json.dumps(third))
    card = write_model_card(tmp_path).read_text()
    positions = [card.index(f"    {step['command']}\n") for step in (first, second, third)]
    assert positions == sorted(positions)
    assert "- note: resumed once" in card and "| 1 | 1.5000 | 0.500 0.600 | 3 |" in card


def test_a_training_cap_keeps_every_class(tmp_path, featurizer):
    """Splits are written class by class: `--max-train-pages` must spread over the split, or a
    cap keeps a few classes only (the study's base design once saw 5 of 16)."""
    import pyarrow.parquet as pq

    from docexit.corpus.store import first_or_spread

    table = tiny_table(3, seed=4)  # 4 classes x 3 pages, class by class
    pq.write_table(table, tmp_path / "train.parquet")
    capped = PageDataset.from_split(tmp_path, "train", featurizer, list(CLASSES), 4, spread=True)
    assert sorted(capped.labels.tolist()) == [0, 1, 2, 3]
    assert PageDataset.from_split(
        tmp_path, "train", featurizer, list(CLASSES), 4
    ).labels.tolist() == [0, 0, 0, 1]
    assert first_or_spread(table, None, spread=True) is table


def test_evaluate_refuses_pages_of_a_class_the_model_lacks(tmp_path: Path) -> None:
    """`docexit evaluate` on pages of a class the model lacks: a one-line error naming it."""
    from hf_fixtures import import_cli, save_hf_classifier

    from docexit.pipeline.cli import evaluate as evaluate_cli

    hf = save_hf_classifier(tmp_path / "hf", labels=CLASSES[:3], layers=2, max_text=64)
    assert import_cli(hf, tmp_path / "imported") == 0
    pq.write_table(tiny_table(1, seed=4), tmp_path / "test.parquet")
    parser = argparse.ArgumentParser()
    evaluate_cli.add_arguments(parser)
    argv = ["--data", str(tmp_path), "--model", str(tmp_path / "imported")]
    with pytest.raises(SystemExit, match=f"docexit evaluate: .*'{CLASSES[3]}'"):
        evaluate_cli.main(parser.parse_args([*argv, "--report", str(tmp_path / "report")]))
