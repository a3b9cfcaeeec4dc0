"""Exits added to an imported classifier without changing its answers: `docexit train
--from-model IMPORTED --strategy two_stage` trains new exit heads with the backbone and final
classifier frozen; full-depth logits stay bit-identical."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from hf_fixtures import import_cli, save_hf_classifier
from test_training import CLASSES, tiny_table

from docexit.models.checkpoint import load_checkpoint
from docexit.models.tokenizer import featurizer_for
from docexit.models.training.dataset import PageDataset
from docexit.models.training.trainer import collect_logits
from docexit.pipeline.cli import train as train_cli


def test_two_stage_from_an_imported_model_keeps_full_depth(tmp_path: Path) -> None:
    hf = save_hf_classifier(tmp_path / "hf", labels=CLASSES, layers=3, max_text=64, image_size=32)
    assert import_cli(hf, tmp_path / "imported") == 0
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for split, (pages, seed) in {"train": (4, 1), "validation": (2, 2), "test": (2, 3)}.items():
        pq.write_table(tiny_table(pages, seed), corpus / f"{split}.parquet")
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    argv = ["--corpus", str(corpus), "--out", str(tmp_path / "out"), "--from-model"]
    argv += [str(tmp_path / "imported"), "--strategy", "two_stage", "--placement", "1,2"]
    argv += ["--modality", "independent", "--epochs", "2", "--batch-size", "4"]
    argv += ["--visual-exit", "none", "--device", "cpu", "--lr-new", "0.01"]
    assert train_cli.main(parser.parse_args(argv)) == 0

    before, after = load_checkpoint(tmp_path / "imported"), load_checkpoint(tmp_path / "out")
    assert before.exit_layers == [3] and after.exit_layers == [0, 0, 1, 2, 3]
    for name, tensor in before.backbone.state_dict().items():
        assert torch.equal(after.backbone.state_dict()[name], tensor), name
    for name, tensor in before.exits[-1].state_dict().items():
        assert torch.equal(after.exits[-1].state_dict()[name], tensor), name
    test = PageDataset.from_split(corpus, "test", featurizer_for(after), after.label_names)
    full_before = collect_logits(before, test, 4, torch.device("cpu"))[0][-1]  # (N, C)
    logits_after, _, _ = collect_logits(after, test, 4, torch.device("cpu"))  # (E, N, C)
    assert torch.equal(logits_after[-1], full_before)
    training = json.loads((tmp_path / "out" / "training.json").read_text())
    assert len(training["history"]) >= 1 and "two_stage" in training["command"]
    assert after.config.policy is not None
    assert (tmp_path / "out" / "tokenizer.json").is_file()


def test_an_imported_model_with_its_own_class_order_gets_labels_by_name(tmp_path: Path) -> None:
    """A corpus numbers its classes as RVL-CDIP does; a classifier imported with another label
    order must be trained and scored against its own ids for the same class names."""
    reordered = [CLASSES[1], CLASSES[0], *CLASSES[2:]]
    hf = save_hf_classifier(tmp_path / "hf", labels=reordered, layers=2, max_text=64, image_size=32)
    assert import_cli(hf, tmp_path / "imported") == 0
    model = load_checkpoint(tmp_path / "imported")
    table = tiny_table(1, seed=4)
    pages = PageDataset(table, featurizer_for(model), model.label_names)
    names = table.column("label").to_pylist()
    assert [model.label_names[i] for i in pages.labels.tolist()] == names
    assert pages.labels.tolist() != table.column("label_id").to_pylist()


def test_training_refuses_pages_of_classes_the_model_lacks(tmp_path: Path) -> None:
    """Pages of a class the imported classifier does not have are refused before any training,
    the class named, instead of being trained against some other class."""
    hf = save_hf_classifier(
        tmp_path / "hf", labels=CLASSES[:3], layers=2, max_text=64, image_size=32
    )
    assert import_cli(hf, tmp_path / "imported") == 0
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for split in ("train", "validation"):
        pq.write_table(tiny_table(1, seed=4), corpus / f"{split}.parquet")
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    argv = ["--corpus", str(corpus), "--out", str(tmp_path / "out"), "--from-model"]
    argv += [str(tmp_path / "imported"), "--strategy", "two_stage", "--visual-exit", "none"]
    with pytest.raises(SystemExit, match=f"classes the model does not have: '{CLASSES[3]}'"):
        train_cli.main(parser.parse_args(argv))
    assert not (tmp_path / "out" / "model.safetensors").exists()
