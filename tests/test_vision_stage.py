"""The pipeline's vision stage: confident pages skip OCR, the others give the always-OCR rows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from docexit.corpus.synth import LABELS, write_corpus
from docexit.models.checkpoint import load_checkpoint, save_checkpoint
from docexit.models.training.visual_training import InkPages, add_visual_exit, train_visual_exit
from docexit.models.visual_exit import ink_map
from docexit.pipeline.build import visual_threshold
from docexit.pipeline.run import run
from docexit.transforms.decode import decode_pages
from docexit.transforms.dofns import OCR_CPU_US, OCR_WALL_US
from docexit.transforms.featurize import image_to_pixels
from docexit.transforms.rows import VISION_EXIT_LAYER

pytestmark = pytest.mark.slow
FAST_ARGS = ["--dpi", "100", "--batch-size", "4"]


def _pages_of(folder: Path) -> tuple[list[str], list[np.ndarray], list[int]]:
    """(source, page) keys, backbone pixels and label ids of every page in a synthetic corpus."""
    keys, pixels, labels = [], [], []
    for line in (folder / "ground_truth.jsonl").read_text().splitlines():
        row = json.loads(line)
        path = folder / row["file"]
        image = list(decode_pages(path.read_bytes(), str(path), dpi=100))[row["page"]].image
        keys.append(f"{path.name}#{row['page']}")
        pixels.append(image_to_pixels(image))
        labels.append(LABELS.index(row["label"]))
    return keys, pixels, labels


@pytest.fixture(scope="module")
def visual_model_dir(
    tiny_model_dir: Path, synth_pages: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The tiny model with a small trained visual exit; its threshold is the median confidence
    on `synth_pages`, so that some of those pages skip OCR and some do not."""
    corpus = tmp_path_factory.mktemp("visual_train")
    write_corpus(corpus, per_class=1, seed=2, unit="files")
    _, pixels, labels = _pages_of(corpus)
    model = load_checkpoint(tiny_model_dir)
    exit_ = add_visual_exit(model, {"image_size": 64, "widths": [8, 16, 16, 16]})
    pages = InkPages(ink_map(torch.from_numpy(np.stack(pixels)), 64), torch.tensor(labels))
    torch.manual_seed(0)
    train_visual_exit(exit_, pages, pages, epochs=4, batch_size=8, seed=0)
    _, test_pixels, _ = _pages_of(synth_pages)
    with torch.no_grad():
        confidence = exit_(torch.from_numpy(np.stack(test_pixels))).softmax(-1).max(-1).values
    threshold = float(confidence.median())
    exit_.spec = {**exit_.spec, "threshold": threshold}
    model.config.visual_exit = exit_.spec
    out = tmp_path_factory.mktemp("visual_model")
    save_checkpoint(model, out)
    return out


def _run(inputs: Path, model_dir: Path, output: Path, *extra: str) -> tuple[object, list[dict]]:
    argv = [
        "--input",
        str(inputs / "*"),
        "--output",
        str(output / "pages"),
        "--model",
        str(model_dir),
        *FAST_ARGS,
        *extra,
    ]
    summary = run(argv, test_pipeline=BeamTestPipeline(argv=argv))
    rows = [r for f in summary.row_files for r in pq.read_table(f).to_pylist()]
    return summary, rows


def _check_ocr_metrics(summary: object, rows: list[dict]) -> None:
    """The OCR stage's Beam distributions hold one value per page that was OCRed, no more."""
    ocred = [r for r in rows if r["ocr_ran"]]
    wall, cpu = summary.metrics[OCR_WALL_US], summary.metrics[OCR_CPU_US]
    assert wall["count"] == cpu["count"] == len(ocred)
    # the same engine calls as the rows' ocr_ms (rounded to whole microseconds per page)
    assert wall["sum"] / 1000 == pytest.approx(sum(r["ocr_ms"] for r in ocred), abs=len(ocred))
    # one thread per Tesseract call: its CPU time is some of, and at most, its wall clock
    assert 0 < cpu["sum"] <= wall["sum"] + 1000 * len(ocred)


def test_confident_pages_skip_ocr_and_the_rest_match_the_always_ocr_run(
    visual_model_dir: Path, synth_pages: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "in"
    shutil.copytree(synth_pages / "images", inputs)
    (inputs / "broken.tif").write_bytes(b"II*\x00 not a tiff")
    threshold = json.loads((visual_model_dir / "config.json").read_text())["visual_exit"][
        "threshold"
    ]
    summary, rows = _run(inputs, visual_model_dir, tmp_path / "vision")
    forced_summary, forced = _run(inputs, visual_model_dir, tmp_path / "forced", "--force-ocr")

    # nothing lost either way: 18 pages + 1 broken file
    assert summary.pages == forced_summary.pages == 18
    assert summary.dead_letters == forced_summary.dead_letters == {"decode": 1}
    by_key = {(r["source"], r["page"]): r for r in forced}
    assert sorted(by_key) == sorted((r["source"], r["page"]) for r in rows)

    vision = [r for r in rows if r["exit_stage"] == "vision"]
    assert 0 < len(vision) < len(rows)  # the median threshold splits the pages
    for row in vision:
        assert row["ocr_ran"] is False and row["word_count"] == 0 and row["ocr_ms"] == 0.0
        assert row["exit_layer"] == row["exit_index"] == VISION_EXIT_LAYER
        assert row["confidence"] >= threshold - 1e-6 and row["exit_threshold"] == threshold
    for row in rows:
        if row["exit_stage"] == "vision":
            continue
        reference = by_key[(row["source"], row["page"])]
        assert row["ocr_ran"] is True and row["exit_stage"] == "encoder"
        assert (row["label"], row["exit_layer"]) == (reference["label"], reference["exit_layer"])
        assert row["confidence"] == pytest.approx(reference["confidence"], abs=1e-4)
    assert all(r["ocr_ran"] and r["exit_stage"] == "encoder" for r in forced)
    assert summary.exit_layers[VISION_EXIT_LAYER] == len(vision)
    _check_ocr_metrics(summary, rows)  # the OCRed pages only
    _check_ocr_metrics(forced_summary, forced)  # all 18
    metadata = pq.read_table(summary.row_files[0]).schema.metadata
    assert json.loads(metadata[b"docexit.visual_threshold"]) == pytest.approx(threshold)
    ocr_settings = json.loads(metadata[b"docexit.ocr_config"])  # provenance of the text
    assert ocr_settings["lang"] == "eng" and ocr_settings["min_dpi"] is None
    assert (
        json.loads(
            pq.read_table(forced_summary.row_files[0]).schema.metadata[b"docexit.visual_threshold"]
        )
        is None
    )


def test_visual_threshold_resolution() -> None:
    config = {"visual_exit": {"threshold": 0.9}}
    assert visual_threshold(config, force_ocr=False, override=None) == 0.9
    assert visual_threshold(config, force_ocr=False, override=0.99) == 0.99
    assert visual_threshold(config, force_ocr=True, override=0.99) is None
    assert visual_threshold({}, force_ocr=False, override=0.9) is None  # no visual exit
    assert visual_threshold({"visual_exit": {"threshold": None}}, False, None) is None
    with pytest.raises(ValueError, match="visual-threshold"):
        visual_threshold(config, force_ocr=False, override=1.5)
