"""Labelled archive text as text-only training pages (`adapt --text-pages-per-class`): equal
counts per covered class, windows of each document's own words on a typed layout the featurizer
accepts, a blank image, and the pages mixed into adapt's fine-tuning set."""

from __future__ import annotations

import argparse
import io
import json
from collections import Counter

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import write_archive_text
from PIL import Image
from test_adaptation import write_tiny_corpora
from test_training import CLASSES, tiny_model, tiny_table

from docexit.corpus.archive_text import ArchiveText, load_archive_text
from docexit.corpus.store import CORPUS_SCHEMA, STORED_IMAGE_SIDE
from docexit.models.checkpoint import load_checkpoint, save_checkpoint
from docexit.models.tokenizer import featurizer_for
from docexit.models.training.adaptation import AdaptConfig, fine_tuning_pages
from docexit.models.training.dataset import PageDataset
from docexit.models.training.text_pages import PAGE_WORDS, archive_text_pages, typed_boxes
from docexit.transforms.featurize import validate_boxes
from docexit.transforms.records import LABELS


def numbered_archive(documents_per_class: dict[int, int], words: int = 400) -> ArchiveText:
    """Documents whose words name their class, their document and their position."""
    texts, labels = [], []
    for label, count in documents_per_class.items():
        for d in range(count):
            texts.append(" ".join(f"c{label}d{d}w{i}" for i in range(words)))
            labels.append(label)
    return ArchiveText(texts, np.asarray(labels))


def test_text_pages_hold_equal_counts_of_each_covered_class_and_windows_of_their_documents():
    archive = numbered_archive({0: 9, 5: 2, 11: 6}, words=PAGE_WORDS + 50)
    table = archive_text_pages(archive, per_class=4, seed=3)
    assert table.schema == CORPUS_SCHEMA
    assert Counter(table.column("label").to_pylist()) == {
        LABELS[0]: 4,
        LABELS[5]: 2,  # all it has
        LABELS[11]: 4,
    }
    rows = table.to_pylist()
    assert len({row["source"] for row in rows}) == len(rows)  # drawn without replacement
    for row in rows:
        document = archive.texts[int(row["source"].split("/")[1])].split()
        start = document.index(row["words"][0])
        assert row["words"] == document[start : start + PAGE_WORDS]  # in the document's order
        assert (
            LABELS.index(row["label"])
            == row["label_id"]
            == archive.labels[int(row["source"].split("/")[1])]
        )
        image = Image.open(io.BytesIO(row["image_png"]))
        assert image.size == (STORED_IMAGE_SIDE, STORED_IMAGE_SIDE)
        assert np.asarray(image).min() == 255  # blank: the image carries nothing
    assert archive_text_pages(archive, 4, seed=3) == table
    assert archive_text_pages(archive, 4, seed=4) != table
    with pytest.raises(ValueError, match="per_class"):
        archive_text_pages(archive, 0, seed=3)


def test_typed_boxes_read_line_by_line_within_the_page():
    words = ["a", "word", "longer-than-most"] * 60 + ["x" * 200]
    boxes = np.asarray(typed_boxes(words))  # (N, 4)
    validate_boxes(words, boxes.tolist())  # the featurizer's own checks pass
    x0, y0 = boxes[:, 0], boxes[:, 1]
    assert (np.diff(y0) >= 0).all()  # top to bottom
    same_line = np.diff(y0) == 0
    assert (np.diff(x0)[same_line] > 0).all()  # left to right within a line
    assert len(np.unique(y0)) > 5 and boxes.min() >= 0 and boxes.max() <= 1000


def test_fine_tuning_pages_mix_text_pages_in_and_the_model_reads_them(tmp_path):
    synth = tmp_path / "synth"
    synth.mkdir()
    pq.write_table(tiny_table(3, seed=1), synth / "train.parquet")
    real = tiny_table(2, seed=7)
    covered = {LABELS.index(name): 5 for name in CLASSES[:2]}
    archive = numbered_archive(covered, words=40)
    plain = fine_tuning_pages(real, synth, AdaptConfig(replay_pages=5), None)
    assert plain.num_rows == real.num_rows + 5
    config = AdaptConfig(replay_pages=5, text_pages_per_class=3)
    with pytest.raises(ValueError, match="--archive-text"):
        fine_tuning_pages(real, synth, config, None)
    mixed = fine_tuning_pages(real, synth, config, archive)
    assert mixed.num_rows == real.num_rows + 5 + 2 * 3
    model = tiny_model()
    dataset = PageDataset(mixed, featurizer_for(model), model.label_names)
    text_rows = range(mixed.num_rows - 6, mixed.num_rows)
    assert all(model.label_names[int(dataset.labels[i])] in CLASSES[:2] for i in text_rows)
    features, _ = dataset[text_rows[0]]
    assert features.num_tokens > 20  # the archive words reach the model as tokens


def test_adapt_command_fine_tunes_on_text_pages_and_refuses_them_without_text(tmp_path):
    """Text pages need readable archive text whose classes the model has: refused before any
    training otherwise; with it, the command fine-tunes and records how many."""
    from docexit.pipeline.cli import adapt as adapt_cli

    real, synth = write_tiny_corpora(tmp_path, real_per_class=2, replay_per_class=2)
    save_checkpoint(tiny_model(), tmp_path / "base")
    records = [  # distinct documents: none is dropped as a duplicate
        {"text": " ".join(f"{name}-doc{d}-word{i}" for i in range(30)), "rvl_cdip_label": name}
        for name in CLASSES[:2]
        for d in range(3)
    ]
    text = write_archive_text(tmp_path / "text.jsonl.gz", records)
    assert len(load_archive_text(text).texts) == 6
    other_classes = write_archive_text(  # a class the four-class tiny model lacks
        tmp_path / "letters.jsonl.gz", [{"text": "dear sir " * 20, "rvl_cdip_label": "letter"}]
    )
    pages = ["--text-pages-per-class", "2"]
    parser = argparse.ArgumentParser()
    adapt_cli.add_arguments(parser)
    common = ["--real", str(real), "--synth", str(synth), "--model", str(tmp_path / "base")]
    common += ["--folds", "0", "--epochs", "1", "--replay-pages", "2", "--device", "cpu"]
    for extra, reason in (
        (["--text-pages-per-class", "2"], "takes its text from --archive-text"),
        (["--text-pages-per-class", "-1"], "0 or more"),
        (["--archive-text", str(tmp_path / "missing.jsonl")], "cross-validation's floor"),
        (["--archive-text", str(tmp_path / "missing.jsonl")] + pages, "archive text .*missing"),
        (["--archive-text", str(other_classes)] + pages, r"classes \['letter'\] that"),
    ):
        with pytest.raises(SystemExit, match=reason):
            adapt_cli.main(parser.parse_args(common + ["--out", str(tmp_path / "no")] + extra))
    assert not (tmp_path / "no" / "model.safetensors").exists()
    args = parser.parse_args(
        common
        + ["--out", str(tmp_path / "out"), "--archive-text", str(text)]
        + ["--text-pages-per-class", "2"]
    )
    assert adapt_cli.main(args) == 0
    training = json.loads((tmp_path / "out" / "training.json").read_text())
    assert training["adapt_config"]["text_pages_per_class"] == 2
    assert load_checkpoint(tmp_path / "out").label_names == list(CLASSES)
