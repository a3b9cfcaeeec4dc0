"""`docexit corpus`: OCR a labelled folder into train/validation/test Parquet with real Tesseract,
cached per file and OCR settings, and score the bag-of-words baseline on it."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from docexit.corpus import corpus_cli
from docexit.corpus.baseline import cross_validated_baseline, out_of_fold_predictions
from docexit.corpus.builder import BuildSettings, build_corpus
from docexit.corpus.sources import read_labelled_folders
from docexit.models.adaptation import load_pages, stratified_folds
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
    predictions = out_of_fold_predictions(texts, labels, stratified_folds(labels, 3))
    result = cross_validated_baseline(out, 3)
    assert result.test_pages == 18
    assert result.accuracy == pytest.approx(float((predictions == labels).mean()))
    printed = capsys.readouterr().out
    # one file per class: every file lands in train, and the test-split baseline says why it is
    # not scored instead of failing after the OCR
    assert "not scored, too few pages per class for a test split" in printed
    assert f"3-fold cross-validation over all 18 pages: accuracy {result.accuracy:.3f}" in printed
