"""Incremental runs: `--skip-existing` skips files whose content hash earlier outputs have."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from docexit.pipeline.run import run
from docexit.transforms.existing import resolve_existing_outputs, skip_patterns
from docexit.transforms.sinks import ROWS_SCHEMA, read_parquet

FIRST = ("memo_0000.png", "email_0000.png", "advertisement_0000.png")  # single-page PNGs
ADDED = ("letter_0000.tif", "handwritten_0000.png")  # a multi-page TIFF
FAST_ARGS = ["--dpi", "100", "--batch-size", "4"]
TIMING = ("ocr_ms", "inference_ms")


def _run(folder: Path, model: Path, output: Path, *extra: str) -> tuple[Any, list[dict]]:
    argv = ["--input", str(folder / "*"), "--output", str(output), "--model", str(model)]
    argv += [*FAST_ARGS, *extra]
    summary = run(argv, test_pipeline=BeamTestPipeline(argv=argv))
    rows = read_parquet(summary.row_files).to_pylist()
    return summary, sorted(rows, key=lambda r: (r["source"], r["page"]))


def _untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


@pytest.mark.slow
def test_skip_existing_processes_only_new_files(
    synth_pages: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    for name in FIRST:
        shutil.copy(synth_pages / "images" / name, folder / name)

    first, rows1 = _run(folder, tiny_model_dir, tmp_path / "run1" / "pages")
    assert {Path(r["source"]).name for r in rows1} == set(FIRST)
    assert first.total_dead_letters == 0

    # Determinism: the same input again gives the same sorted rows (timing aside).
    _, again = _run(folder, tiny_model_dir, tmp_path / "again" / "pages")
    assert _untimed(again) == _untimed(rows1)

    for name in ADDED:
        shutil.copy(synth_pages / "images" / name, folder / name)
    second, rows2 = _run(
        folder,
        tiny_model_dir,
        tmp_path / "run2" / "pages",
        "--skip-existing",
        str(first.row_files[0]),
    )
    assert {Path(r["source"]).name for r in rows2} == set(ADDED)
    assert second.skipped_existing == len(FIRST)
    assert "3 skipped" in second.format()
    assert len([r for r in rows2 if r["source"].endswith(".tif")]) >= 2  # every page

    # Both earlier outputs, as a prefix and a folder: nothing left to do, valid empty Parquet.
    third, rows3 = _run(
        folder,
        tiny_model_dir,
        tmp_path / "run3" / "pages",
        "--skip-existing",
        str(tmp_path / "run1" / "pages"),
        "--skip-existing",
        str(tmp_path / "run2"),
    )
    assert rows3 == [] and third.pages == 0 and third.total_dead_letters == 0
    assert third.skipped_existing == len(FIRST) + len(ADDED)
    table = pq.read_table(third.row_files[0])
    assert table.num_rows == 0 and table.schema.remove_metadata() == ROWS_SCHEMA


def test_resolve_existing_outputs_groups_runs_and_leaves_own_output_out(tmp_path: Path) -> None:
    for name in (
        "nightly/d1/pages-00000-of-00002.parquet",
        "nightly/d1/pages-00001-of-00002.parquet",
        "nightly/d1/pages-dead-letters-00000-of-00001.parquet",
        "nightly/d2/pages-00000-of-00001.parquet",
        "nightly/d2/notes.txt",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    output = str(tmp_path / "nightly" / "d2" / "pages")
    assert skip_patterns(["auto"], output) == [str(tmp_path / "nightly") + "/**.parquet"]
    runs = resolve_existing_outputs(["auto"], output)
    d1 = str(tmp_path / "nightly" / "d1" / "pages")
    assert [(list(r.row_files), list(r.dead_letter_files)) for r in runs] == [
        (
            [f"{d1}-00000-of-00002.parquet", f"{d1}-00001-of-00002.parquet"],
            [f"{d1}-dead-letters-00000-of-00001.parquet"],
        )
    ]
    assert resolve_existing_outputs([str(tmp_path / "missing")], output) == []


def test_files_with_dead_letters_are_not_done(tmp_path: Path) -> None:
    from docexit.transforms.existing import EarlyRun, done_hashes
    from docexit.transforms.sinks import DEAD_LETTER_SCHEMA, write_parquet

    row = {name: 0 for name in ROWS_SCHEMA.names}
    row |= {"label": "x", "exit_policy": "p", "model_id": "m", "confidence": 0.5, "ocr_ms": 0.0}
    row |= {"inference_ms": 0.0, "exit_threshold": None, "exit_stage": "encoder", "ocr_ran": True}
    rows = [
        row | {"source": "a", "content_hash": "ha"},
        row | {"source": "b", "content_hash": "hb"},
    ]
    write_parquet(rows, ROWS_SCHEMA, str(tmp_path / "p-00000-of-00001.parquet"))
    dead = {"source": "b", "page": 1, "stage": "ocr", "error_type": "E", "error_message": "m"}
    write_parquet(
        [dead], DEAD_LETTER_SCHEMA, str(tmp_path / "p-dead-letters-00000-of-00001.parquet")
    )
    run_ = EarlyRun(
        (str(tmp_path / "p-00000-of-00001.parquet"),),
        (str(tmp_path / "p-dead-letters-00000-of-00001.parquet"),),
    )
    assert list(done_hashes(run_)) == ["ha"]
