"""`docexit adapt`: stratified folds, cross-validation of the whole adaptation, and the adapted
model with its card, on a tiny model and tiny corpora made from the generator's own words."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from test_training import CLASSES, tiny_model, tiny_table

from docexit.models.checkpoint import load_checkpoint, save_checkpoint
from docexit.models.training.adaptation import CrossvalReport, stratified_folds
from docexit.models.training.visual_training import add_visual_exit


def test_stratified_folds_spread_each_class_and_balance_sizes():
    labels = [0] * 7 + [1] * 5 + [2] * 2 + [3] * 9
    folds = stratified_folds(labels, 3, seed=4)
    sizes = np.bincount(folds, minlength=3)
    assert sizes.sum() == len(labels) and sizes.max() - sizes.min() <= 1
    for label in set(labels):
        per_fold = Counter(folds[np.asarray(labels) == label].tolist())
        counts = [per_fold.get(f, 0) for f in range(3)]
        assert max(counts) - min(counts) <= 1, (label, counts)
    assert (stratified_folds(labels, 3, seed=4) == folds).all()
    assert not (stratified_folds(labels, 3, seed=5) == folds).all()
    with pytest.raises(ValueError, match="folds"):
        stratified_folds(labels, 1)


def test_adapt_refuses_an_unusable_model_before_any_fold_trains(tmp_path):
    """A checkpoint without its tokenizer, or without a class some real pages have, is refused
    with the reason (exit 2 from the command line), not a traceback in fold 1."""
    from docexit.pipeline.cli import adapt as adapt_cli

    real = tmp_path / "real"
    real.mkdir()
    pq.write_table(tiny_table(2, seed=7), real / "test.parquet")
    three_classes = tiny_model(label_names=list(CLASSES[:3]))
    save_checkpoint(three_classes, tmp_path / "three")
    save_checkpoint(tiny_model(), tmp_path / "bare")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (tmp_path / "bare" / name).unlink()
    parser = argparse.ArgumentParser()
    adapt_cli.add_arguments(parser)
    for model, reason in (("three", "classes the model does not have"), ("bare", "tokenizer")):
        args = parser.parse_args(
            ["--real", str(real), "--synth", str(tmp_path), "--out", str(tmp_path / "out")]
            + ["--model", str(tmp_path / model), "--device", "cpu"]
        )
        with pytest.raises(SystemExit, match=reason):
            adapt_cli.main(args)
    assert not (tmp_path / "out" / "model.safetensors").exists()
    no_folds = parser.parse_args(
        ["--real", str(real), "--synth", str(tmp_path), "--out", str(tmp_path / "out")]
        + ["--folds", "0", "--archive-text", str(tmp_path / "text.jsonl")]
    )
    with pytest.raises(SystemExit, match="--archive-text sets the cross-validation's floor"):
        adapt_cli.main(no_folds)  # the text would be silently unused


def write_tiny_corpora(
    tmp_path: Path, real_per_class: int, replay_per_class: int
) -> tuple[Path, Path]:
    """A 'real' corpus (one test split) and a synthetic one (train and validation splits) of
    generated pages of the tiny model's classes."""
    real, synth = tmp_path / "real", tmp_path / "synth"
    real.mkdir()
    synth.mkdir()
    pq.write_table(tiny_table(real_per_class, seed=7), real / "test.parquet")
    pq.write_table(tiny_table(replay_per_class, seed=1), synth / "train.parquet")
    pq.write_table(tiny_table(2, seed=2), synth / "validation.parquet")
    return real, synth


def test_adapt_command_cross_validates_then_saves_the_adapted_model(tmp_path):
    """Two folds over 16 'real' pages, then the final fine-tune: out-of-fold figures for every
    page, a changed model that loads, its training chain and the card's cross-validation table."""
    from docexit.pipeline.cli import adapt as adapt_cli

    real, synth = write_tiny_corpora(tmp_path, real_per_class=4, replay_per_class=3)
    base = tiny_model()
    add_visual_exit(base)
    save_checkpoint(base, tmp_path / "base")
    (tmp_path / "base" / "training.json").write_text(json.dumps({"command": "docexit train X"}))
    parser = argparse.ArgumentParser()
    adapt_cli.add_arguments(parser)
    args = parser.parse_args(
        ["--real", str(real), "--synth", str(synth), "--out", str(tmp_path / "out")]
        + ["--model", str(tmp_path / "base"), "--folds", "2", "--epochs", "2"]
        + ["--replay-pages", "4", "--val-pages", "8", "--batch-size", "4", "--device", "cpu"]
        + ["--max-length", "96"]
    )
    assert adapt_cli.main(args) == 0

    crossval = CrossvalReport.from_dict(
        json.loads((tmp_path / "out" / "crossval.json").read_text())
    )
    assert sorted(crossval.page_order) == list(range(16)) and crossval.seconds > 0
    for report in (crossval.base, crossval.adapted):
        headline = report.headline
        assert headline.n == 16 and len(report.exits) == len(base.config.exits)
        for value in (
            headline.accuracy_full,
            headline.accuracy_early_exit,
            headline.accuracy_with_visual_exit,
        ):
            assert 0.0 <= value <= 1.0
        assert 0.0 <= headline.mean_exit_layer <= base.num_layers
        for row in report.exits:  # ECE of raw, temperature-scaled and reported confidence
            assert all(
                0.0 <= v <= 1.0 for v in (row.ece_before, row.ece_after_temperature, row.ece_after)
            )
    floor = crossval.text_floor  # the text-only floor, trained on the same folds
    diff, low, high = floor.adapted_minus_floor
    assert 0.0 <= floor.accuracy <= 1.0 and low <= diff <= high
    assert diff == pytest.approx(crossval.adapted.headline.accuracy_full - floor.accuracy)
    adapted = load_checkpoint(tmp_path / "out")
    assert adapted.config.max_text_tokens == 96 and base.config.max_text_tokens == 128
    assert adapted.config.visual_exit["temperature"] > 0  # threshold: None if none qualifies
    maps = adapted.confidence_maps  # refitted on synthetic validation with the temperatures
    assert len(maps) == len(base.config.exits) and all(slope > 0 for slope, _ in maps)
    changed = [
        not torch.equal(a, b)
        for a, b in zip(adapted.state_dict().values(), base.state_dict().values(), strict=True)
    ]
    assert any(changed)
    training = json.loads((tmp_path / "out" / "training.json").read_text())
    assert training["command"].startswith("docexit adapt") and training["real_pages"] == 16
    assert training["base_training"]["command"] == "docexit train X"
    assert len(training["real_page_hashes"]) == 16
    again = parser.parse_args(
        ["--real", str(real), "--synth", str(synth), "--out", str(tmp_path / "again")]
        + ["--model", str(tmp_path / "out")]
    )
    with pytest.raises(SystemExit, match="already adapted on 16 of these pages"):
        adapt_cli.main(again)  # cross-validating pages the model has seen would leak
    card = (tmp_path / "out" / "MODEL_CARD.md").read_text()
    assert "## Real pages, 2-fold cross-validation" in card
    assert f"| full-depth accuracy | {crossval.base.headline.accuracy_full:.3f} |" in card
    assert (
        f"Text floor: TF-IDF + logistic regression on OCR words, same folds: {floor.accuracy:.3f}"
        in card
    )


def test_text_floor_learns_words_that_name_the_class():
    """Pages whose words name their class: the floor, trained on the other folds, gets every
    held-out page right, so a model that gets half of them wrong is 50 points below it."""
    import pyarrow as pa

    from docexit.models.training.adaptation import text_floor_report

    labels = [0, 1, 2, 3] * 4
    words = [[f"class{y}", "page", f"class{y}word"] for y in labels]
    real = pa.table({"words": words, "label_id": labels})
    folds = stratified_folds(labels, 2, seed=0)
    order = np.concatenate([np.flatnonzero(folds == f) for f in range(2)])
    half_right = torch.arange(16) % 2 == 0  # (N,) the model's full depth, in outcome order
    floor = text_floor_report(real, folds, order, half_right)
    assert floor.accuracy == 1.0
    diff, low, high = floor.adapted_minus_floor
    assert diff == pytest.approx(-0.5) and low < -0.2 and high < 0


def test_max_length_is_bounded_by_the_position_embeddings():
    from docexit.models.training.adaptation import set_max_text_tokens

    model = tiny_model()
    with pytest.raises(ValueError, match="max_length must be in"):
        set_max_text_tokens(model, 4096)
    set_max_text_tokens(model, 32)
    assert model.config.max_text_tokens == 32
