"""Incremental runs: `--skip-existing` skips files earlier runs finished, from the listing
(path, size, modification time) alone, joined with the earlier runs' manifests."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from docexit.pipeline.run import run
from docexit.transforms.existing import manifest_patterns, resolve_manifests
from docexit.transforms.sinks import ROWS_SCHEMA, read_parquet

FIRST = ("memo_0000.png", "email_0000.png", "advertisement_0000.png")  # single-page PNGs
ADDED = ("letter_0000.tif", "handwritten_0000.png")  # a multi-page TIFF
FAST_ARGS = ["--dpi", "100", "--batch-size", "4"]
TIMING = ("ocr_ms", "inference_ms")


def copy_pages(synth_pages: Path, folder: Path, names: tuple[str, ...]) -> Path:
    """`folder` (created if needed) with the named synthetic files copied into it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(synth_pages / "images" / name, folder / name)
    return folder


def _run(folder: Path, model: Path, output: Path, *extra: str) -> tuple[Any, list[dict]]:
    argv = ["--input", str(folder / "*"), "--output", str(output), "--model", str(model)]
    argv += [*FAST_ARGS, *extra]
    summary = run(argv, test_pipeline=BeamTestPipeline(argv=argv))
    rows = read_parquet(summary.row_files).to_pylist()
    return summary, sorted(rows, key=lambda r: (r["source"], r["page"]))


def _untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


@pytest.mark.slow
def test_skip_existing_processes_only_new_and_changed_files(
    synth_pages: Path, tiny_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = copy_pages(synth_pages, tmp_path / "archive", FIRST)
    nightly = tmp_path / "nightly"

    first, rows1 = _run(folder, tiny_model_dir, nightly / "d1")
    assert {Path(r["source"]).name for r in rows1} == set(FIRST)
    assert first.total_dead_letters == 0

    # Determinism: the same input again gives the same sorted rows (timing aside).
    _, again = _run(folder, tiny_model_dir, tmp_path / "again")
    assert _untimed(again) == _untimed(rows1)

    copy_pages(synth_pages, folder, ADDED)
    second, rows2 = _run(folder, tiny_model_dir, nightly / "d2", "--skip-existing")
    assert {Path(r["source"]).name for r in rows2} == set(ADDED)
    assert second.skipped_existing == len(FIRST)
    assert "3 skipped" in second.format()
    assert len([r for r in rows2 if r["source"].endswith(".tif")]) >= 2  # every page
    # Skipped files were never read: the bytes read are the new files' bytes.
    assert second.metrics["bytes_read"] == sum((folder / n).stat().st_size for n in ADDED)
    manifest = pq.read_table(nightly / "d2" / "manifest").to_pylist()
    assert sorted(Path(m["source"]).name for m in manifest) == sorted(ADDED)

    # A changed file (new bytes, new mtime) is done again; an unreadable manifest of a complete
    # run is a warning, not a failed job.
    changed = folder / FIRST[0]
    other = [p for p in sorted((synth_pages / "images").glob("*.png")) if p.name not in FIRST]
    changed.write_bytes(other[0].read_bytes())
    os.utime(changed, (1e9, 1e9))
    broken = nightly / "d0"
    (broken / "manifest").mkdir(parents=True)
    (broken / "manifest" / "part-00000-of-00001.parquet").write_bytes(b"not parquet")
    (broken / "_SUCCESS").write_text("{}")
    with caplog.at_level(logging.WARNING, logger="docexit"):
        third, rows3 = _run(folder, tiny_model_dir, nightly / "d3", "--skip-existing")
    assert {Path(r["source"]).name for r in rows3} == {FIRST[0]}
    assert third.skipped_existing == len(FIRST) + len(ADDED) - 1
    assert third.metrics["skip_scan_unreadable"] == 1
    assert "cannot read" in caplog.text and "d0/manifest" in caplog.text

    # Every earlier run named: nothing left to do, valid empty Parquet.
    fourth, rows4 = _run(folder, tiny_model_dir, tmp_path / "d4", "--skip-existing", str(nightly))
    assert rows4 == [] and fourth.pages == 0 and fourth.total_dead_letters == 0
    assert fourth.skipped_existing == len(FIRST) + len(ADDED)
    table = pq.read_table(tmp_path / "d4" / "rows")
    assert table.num_rows == 0 and table.schema.remove_metadata() == ROWS_SCHEMA


def test_resolve_manifests_takes_complete_runs_and_leaves_own_output_out(tmp_path: Path) -> None:
    for name in (
        "nightly/d1/manifest/part-00000-of-00002.parquet",
        "nightly/d1/manifest/part-00001-of-00002.parquet",
        "nightly/d1/_SUCCESS",
        "nightly/d2/manifest/part-00000-of-00001.parquet",
        "nightly/d2/_SUCCESS",
        "nightly/killed/manifest/part-00000-of-00001.parquet",  # no _SUCCESS
        "nightly/d1/rows/part-00000-of-00001.parquet",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    output = str(tmp_path / "nightly" / "d2")
    assert manifest_patterns(["auto"], output) == [
        str(tmp_path / "nightly") + "/*/manifest/*.parquet"
    ]
    d1 = tmp_path / "nightly" / "d1" / "manifest"
    expected = [str(d1 / "part-00000-of-00002.parquet"), str(d1 / "part-00001-of-00002.parquet")]
    assert resolve_manifests(["auto"], output) == expected
    assert resolve_manifests([str(tmp_path / "nightly" / "d1")], output) == expected
    assert resolve_manifests([str(tmp_path / "missing")], output) == []
