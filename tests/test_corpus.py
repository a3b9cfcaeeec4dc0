"""`docexit corpus`: OCR a labelled folder into train/validation/test Parquet with real Tesseract,
cached per file and OCR settings, and score the bag-of-words baseline on it."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
from conftest import write_archive_text, write_word_split

from docexit.corpus.archive_text import (
    POOLED_FLOORS,
    archive_text_floors,
    as_real_pages_weights,
    class_balanced_weights,
    load_archive_text,
    pool_within_covered,
)
from docexit.corpus.baseline import (
    cross_validated_baseline,
    out_of_fold_probabilities,
    synthetic_baselines,
)
from docexit.corpus.builder import BuildSettings, build_corpus
from docexit.corpus.sources import LABELS, read_labelled_folders
from docexit.models.training.adaptation import load_pages, stratified_folds
from docexit.pipeline.cli import corpus as corpus_cli
from docexit.transforms.ocr import OcrConfig


@pytest.mark.slow
def test_corpus_is_cached_per_ocr_settings_and_min_dpi_reads_again(synth_pages: Path, tmp_path):
    files = read_labelled_folders([synth_pages])
    first = build_corpus(files, tmp_path, BuildSettings(workers=2))
    assert sum(first.pages.values()) == 18 and first.cached_files == 0
    again = build_corpus(files, tmp_path, BuildSettings(workers=2))
    assert again.cached_files == len(files) and again.pages == first.pages
    upscaled = BuildSettings(ocr=OcrConfig(min_dpi=180), workers=2)
    assert upscaled.cache_key() != BuildSettings().cache_key()
    report = build_corpus(files, tmp_path, upscaled)
    assert report.cached_files == 0 and report.pages == first.pages  # other settings: OCR again
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        [BuildSettings().cache_key(), upscaled.cache_key()]
    )


@pytest.mark.slow
def test_corpus_command_scores_the_baseline_by_cross_validation(
    synth_pages: Path, tmp_path, capsys: pytest.CaptureFixture[str]
):
    parser = argparse.ArgumentParser()
    corpus_cli.add_arguments(parser)
    out = tmp_path / "corpus"
    args = parser.parse_args(
        ["--input", str(synth_pages), "--out", str(out), "--baseline-folds", "3"]
        + ["--workers", "2"]
    )
    assert corpus_cli.main(args) == 0
    pages = load_pages(out).to_pydict()
    labels = np.asarray(pages["label_id"])
    texts = [" ".join(words) for words in pages["words"]]
    predictions = out_of_fold_probabilities(texts, labels, stratified_folds(labels, 3)).argmax(1)
    result = cross_validated_baseline(out, 3)
    assert result.test_pages == 18
    assert result.accuracy == pytest.approx(float((predictions == labels).mean()))
    printed = capsys.readouterr().out
    # one file per class: every file lands in train, and the test-split baseline says why it is
    # not scored instead of failing after the OCR
    assert "not scored, too few pages per class for a test split" in printed
    assert f"3-fold cross-validation over all 18 pages: accuracy {result.accuracy:.3f}" in printed


def test_synthetic_baselines_show_how_far_synthetic_text_carries(tmp_path):
    """Synthetic pages name their class; on the 'real' pages classes 2 and 3 carry each other's
    word. Trained on synthetic pages alone the baseline swaps them (0.5); the real folds teach
    the swap (1.0); with adapt's replay pages outnumbering the real ones, the synthetic word
    wins again, so the replay pages are in each fold's training set."""
    real_word = {0: "class0", 1: "class1", 2: "class3", 3: "class2"}
    write_word_split(
        tmp_path / "real", "train", [(y, [real_word[y], "page"]) for y in range(4)] * 4
    )
    synth_pages = [(y, [f"class{y}", "page"]) for y in range(4)] * 10
    write_word_split(tmp_path / "synth", "train", synth_pages)

    result = synthetic_baselines(tmp_path / "real", tmp_path / "synth", folds=2, replay_pages=40)
    assert result.synthetic_train_pages == 40 and result.replay_pages == 40
    assert result.synthetic_only == 0.5
    assert cross_validated_baseline(tmp_path / "real", 2).accuracy == 1.0
    assert result.real_folds_with_replay == 0.5
    none = synthetic_baselines(tmp_path / "real", tmp_path / "synth", folds=2, replay_pages=0)
    assert none.replay_pages == 0 and none.real_folds_with_replay == 1.0

    parser = argparse.ArgumentParser()
    corpus_cli.add_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path / "x"), "--baseline-synth", "somewhere"])
    with pytest.raises(SystemExit, match="--baseline-synth needs --baseline-folds"):
        corpus_cli.main(args)  # refused before any page is generated or read
    assert not (tmp_path / "x").exists()


def test_corpus_refuses_archive_text_for_pages_it_does_not_generate(tmp_path):
    parser = argparse.ArgumentParser()
    corpus_cli.add_arguments(parser)
    real = ["--input", str(tmp_path / "real"), "--synth-archive-text", str(tmp_path / "a.jsonl")]
    absent = ["--synth-per-class", "1", "--synth-archive-text", str(tmp_path / "absent.jsonl")]
    for argv, reason in ((real, "needs --synth-per-class"), (absent, "No such file")):
        args = parser.parse_args(["--out", str(tmp_path / "x"), *argv])
        with pytest.raises(SystemExit, match=reason):
            corpus_cli.main(args)
    assert not (tmp_path / "x").exists()


def test_archive_text_is_read_without_unlabelled_empty_or_duplicate_documents(tmp_path):
    records = [
        {"text": "a memo about the quarterly figures", "rvl_cdip_label": "memo"},
        {"text": "a memo about the quarterly figures", "rvl_cdip_label": "memo"},  # duplicate
        {"text": "call me back", "rvl_cdip_label": None},  # a class RVL-CDIP does not have
        {"text": "  ", "rvl_cdip_label": "letter"},  # nothing readable
        {"text": "dear sir, thank you for your letter", "rvl_cdip_label": "letter"},
    ]
    archive = load_archive_text(write_archive_text(tmp_path / "a.jsonl.gz", records))
    assert archive.texts == [records[0]["text"], records[4]["text"]]
    assert [LABELS[i] for i in archive.labels] == ["memo", "letter"]
    bad = write_archive_text(tmp_path / "b.jsonl.gz", [{"text": "x" * 30, "rvl_cdip_label": "x"}])
    with pytest.raises(ValueError, match="b.jsonl.gz:1: 'x' is not an RVL-CDIP class"):
        load_archive_text(bad)

    weights = class_balanced_weights(np.array([0, 0, 0, 1]))
    assert weights.mean() == pytest.approx(1.0)
    assert weights[:3].sum() == pytest.approx(weights[3])  # each class weighs the same
    weights = as_real_pages_weights(np.array([0, 0, 1]), np.array([0, 0, 0, 0, 1]))
    assert weights.tolist() == [
        1,
        1,
        1,
        0.5,
        0.5,
        0.5,
        0.5,
        1,
    ]  # class 0's text weighs 2, as its pages


def test_archive_text_floors_learn_what_the_real_folds_cannot(tmp_path):
    """Every real page holds a word no other real page has, so the real folds alone cannot
    learn it; the archive text of classes 0 and 2 holds those words, so with it the pages of
    those classes are right, and the pages of class 1 (no archive text) are counted apart."""

    def own(y: int, i: int) -> str:
        return chr(ord("a") + 4 * y + i) * 4  # "aaaa", "bbbb": no character n-gram in common

    pages = [(y, [own(y, i)]) for y in (0, 1, 2) for i in range(4)]
    write_word_split(tmp_path / "real", "train", pages)
    records = [
        {"text": " ".join(own(y, i) for i in range(4)) + f" n{k}", "rvl_cdip_label": LABELS[y]}
        for y in (0, 2)
        for k in range(10)
    ]
    archive = load_archive_text(write_archive_text(tmp_path / "t.jsonl.gz", records))
    result = archive_text_floors(tmp_path / "real", archive, folds=2)
    assert (result.archive_documents, result.covered_pages, result.uncovered_pages) == (20, 8, 4)
    for alone in ("real pages only", "real pages only, character n-grams"):
        assert result.floors[alone]["covered"] < 1.0
    for weighting in ("plain", "class-balanced", "as real pages"):
        assert result.floors[f"with archive text, {weighting}"]["covered"] == 1.0
    for pooled in POOLED_FLOORS.values():  # counting words, and character n-grams
        assert result.floors[pooled]["covered"] == 1.0
        assert all(weight > 0 for weight in result.pool_weights[pooled])  # inner folds saw it help
    assert result.best()[0] != "real pages only"


def test_pooling_with_the_archive_expert_resplits_only_the_covered_classes_share():
    """Classes 0 and 2 are covered by the archive text, class 1 is not: the expert re-ranks
    0 against 2 but cannot take class 1's share, unlike training on the archive text."""
    probabilities = np.array([[0.3, 0.4, 0.3], [0.25, 0.5, 0.25], [0.6, 0.1, 0.3]])
    expert = np.array([[0.1, 0.0, 0.9], [0.99, 0.0, 0.01], [0.2, 0.0, 0.8]])
    covered = np.array([0, 2])
    unchanged = pool_within_covered(probabilities, expert, covered, 0.0)
    np.testing.assert_allclose(unchanged, probabilities, atol=1e-9)
    for weight in (0.25, 0.5, 1.0):
        pooled = pool_within_covered(probabilities, expert, covered, weight)
        np.testing.assert_allclose(pooled.sum(1), 1.0)
        np.testing.assert_allclose(pooled[:, 1], probabilities[:, 1])  # its share is kept
        assert pooled.argmax(1)[1] == 1  # a page of the uncovered class stays there
    assert pool_within_covered(probabilities, expert, covered, 1.0).argmax(1).tolist() == [2, 1, 2]
