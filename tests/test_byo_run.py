"""Bring your own LayoutLMv3, checked from outside the code: `docexit run --model IMPORTED
--force-ocr --keep-ocr` gives every page the label and confidence transformers' own model gives
on that row's `words`, `boxes` and page image; a plain transformers folder runs too (imported on
the fly)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hf_fixtures import import_cli, save_hf_classifier, transformers_logits

from docexit.pipeline.run import main
from docexit.transforms.decode import decode_pages

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_hf_classifier(tmp_path_factory.mktemp("hf"), max_text=64, seed=2)


@pytest.fixture(scope="module")
def pages(synth_pages: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three generated files (one a multi-page TIFF when the generator made one)."""
    folder = tmp_path_factory.mktemp("pages")
    files = sorted((synth_pages / "images").iterdir())
    tiffs = [f for f in files if f.suffix == ".tif"][:1]
    for path in [*tiffs, *[f for f in files if f not in tiffs][:2]]:
        shutil.copy(path, folder / path.name)
    return folder


def run_rows(model: Path, pages: Path, out: Path) -> list[dict]:
    argv = ["--input", str(pages / "*"), "--model", str(model), "--output", str(out)]
    assert main([*argv, "--force-ocr", "--keep-ocr", "--no-summary"]) == 0
    table = pq.read_table(out / "rows")
    assert b"docexit.ocr_columns" in table.schema.metadata
    return table.to_pylist()


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


def test_run_matches_transformers_on_every_row(hf_dir: Path, pages: Path, tmp_path: Path) -> None:
    imported = tmp_path / "imported"
    assert import_cli(hf_dir, imported) == 0
    rows = run_rows(imported, pages, tmp_path / "out")
    assert len(rows) >= 3 and any(len(r["words"]) > 20 for r in rows)
    images = {}
    for row in rows:
        assert row["ocr_ran"] and len(row["words"]) == len(row["boxes"]) == row["word_count"]
        if row["source"] not in images:
            data = Path(row["source"]).read_bytes()
            images[row["source"]] = [p.image for p in decode_pages(data, row["source"])]
        image = images[row["source"]][row["page"]]
        probs = softmax(transformers_logits(hf_dir, row["words"], row["boxes"], image))
        assert row["label_id"] == int(probs.argmax()), row["source"]
        assert abs(row["confidence"] - float(probs.max())) < 1e-3, row["source"]
        assert row["exit_layer"] == row["num_layers"] == 2


def test_plain_transformers_folder_is_imported_on_the_fly(
    hf_dir: Path, pages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    monkeypatch.setenv("DOCEXIT_CACHE", str(tmp_path / "cache"))
    caplog.set_level("INFO", logger="docexit")
    one = tmp_path / "one"
    one.mkdir()
    first = sorted(pages.iterdir())[-1]
    shutil.copy(first, one / first.name)
    rows = run_rows(hf_dir, one, tmp_path / "out")
    assert "imported on the fly" in caplog.text
    assert len(list((tmp_path / "cache" / "imported").iterdir())) == 1
    image = next(decode_pages(first.read_bytes(), str(first))).image
    row = rows[0]
    probs = softmax(transformers_logits(hf_dir, row["words"], row["boxes"], image))
    assert row["label_id"] == int(probs.argmax())
