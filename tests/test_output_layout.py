"""The output folder: rows/, dead_letters/, manifest/ and _SUCCESS written last; a rerun (also
after a killed run) leaves exactly one consistent set; a failed write is exit code 4."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from test_incremental import copy_pages

from docexit.pipeline.run import main
from docexit.transforms.layout import RunLayout, commit_run, read_success

PICKED = ("letter_0000.tif", "memo_0000.png", "email_0000.png")  # 4 pages
FAST_ARGS = ["--dpi", "100", "--batch-size", "4"]


def _table(n: int, start: int = 0) -> pa.Table:
    return pa.table({"source": [f"f{i}" for i in range(start, start + n)]})


def _stage(layout: RunLayout, part: str, tables: list[pa.Table]) -> list[str]:
    paths = []
    for i, table in enumerate(tables):
        path = Path(f"{layout.staging_prefix(part)}-{i:05d}-of-{len(tables):05d}.parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        paths.append(str(path))
    return paths


def test_commit_replaces_the_set_removes_leftovers_and_writes_the_marker_last(
    tmp_path: Path,
) -> None:
    old = RunLayout(str(tmp_path), "old")
    commit_run(old, {"rows": _stage(old, "rows", [_table(2), _table(2, 2), _table(2, 4)])}, {})
    killed = tmp_path / "_staging" / "killed" / "rows" / "beam-temp-part-1"
    killed.mkdir(parents=True)
    (killed / "orphan").write_bytes(b"half a file")

    new = RunLayout(str(tmp_path), "new")
    staged = {"rows": _stage(new, "rows", [_table(5)]), "manifest": _stage(new, "manifest", [])}
    marker = commit_run(new, staged, {"rows_written": 5})

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "_SUCCESS",
        "dead_letters",
        "manifest",
        "rows",
    ]
    assert [p.name for p in (tmp_path / "rows").iterdir()] == ["part-00000-of-00001.parquet"]
    assert ds.dataset(tmp_path / "rows").to_table().equals(_table(5))
    assert read_success(str(tmp_path)) == marker
    assert marker["counts"] == {"rows_written": 5} and marker["run_id"] == "new"

    # A commit that fails half way (a staged file is gone) leaves no marker behind.
    broken = RunLayout(str(tmp_path), "broken")
    staged = _stage(broken, "rows", [_table(1)])
    Path(staged[0]).unlink()
    with pytest.raises(OSError):
        commit_run(broken, {"rows": staged}, {})
    assert read_success(str(tmp_path)) is None


def _docexit(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "docexit.pipeline.cli", "run", *argv]


def _consistent_set(output: Path) -> dict:
    """The marker names exactly the files present; every row is read once."""
    marker = json.loads((output / "_SUCCESS").read_text())
    for part in ("rows", "dead_letters", "manifest"):
        assert sorted(p.name for p in (output / part).iterdir()) == marker["files"][part]
    rows = ds.dataset(output / "rows").to_table()
    keys = list(zip(rows["source"].to_pylist(), rows["page"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys)) == marker["counts"]["rows_written"]
    return {"marker": marker, "keys": sorted(keys)}


@pytest.mark.slow
def test_killed_run_then_rerun_leave_one_consistent_set(
    synth_pages: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = copy_pages(synth_pages, tmp_path / "in", PICKED)
    output = tmp_path / "out"
    argv = ["--input", str(folder / "*"), "--output", str(output), "--model", str(tiny_model_dir)]
    argv += [*FAST_ARGS, "--no-summary"]
    assert main([*argv, "--num-shards", "3"]) == 0
    first = _consistent_set(output)
    assert len(first["marker"]["files"]["rows"]) == 3

    # A second run, killed once it has started writing its staging folder.
    process = subprocess.Popen(_docexit([*argv, "--num-shards", "2"]), stderr=subprocess.DEVNULL)
    while process.poll() is None and not (output / "_staging").exists():
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it was killed"
    assert _consistent_set(output) == first  # readers still see the first run, whole

    assert main([*argv, "--num-shards", "1"]) == 0
    rerun = _consistent_set(output)
    assert rerun["keys"] == first["keys"]
    assert rerun["marker"]["files"]["rows"] == ["part-00000-of-00001.parquet"]
    assert not (output / "_staging").exists()
    assert not [p for p in output.rglob("*") if "tmp" in p.name or "beam-temp" in p.name]


@pytest.mark.slow
def test_failed_write_is_exit_code_4(
    synth_pages: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    shutil.copy(synth_pages / "images" / "memo_0000.png", tmp_path / "memo.png")
    output = tmp_path / "out"
    output.mkdir()
    (output / "rows").write_text("a file where the rows folder goes")  # the move must fail
    argv = ["--input", str(tmp_path / "memo.png"), "--output", str(output)]
    code = main([*argv, "--model", str(tiny_model_dir), *FAST_ARGS])
    err = capsys.readouterr().err
    assert code == 4
    assert "docexit run: error: the job failed while running" in err
    assert "Traceback" not in err
    assert not (output / "_SUCCESS").exists()
