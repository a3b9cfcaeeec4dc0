"""`benchmarks/same_answers.py`: new exits before an imported classifier pass the check; a
changed final classifier fails it."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from hf_fixtures import import_cli, save_hf_classifier
from test_training import CLASSES, tiny_table

from docexit.benchmarks.same_answers import main
from docexit.models.checkpoint import load_checkpoint, save_checkpoint
from docexit.models.exits import exit_plan
from docexit.models.factory import with_new_exits


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("same")
    hf = save_hf_classifier(root / "hf", labels=CLASSES, layers=3, max_text=48, image_size=32)
    assert import_cli(hf, root / "imported") == 0
    (root / "corpus").mkdir()
    pq.write_table(tiny_table(2, seed=5), root / "corpus" / "test.parquet")
    imported = load_checkpoint(root / "imported")
    with_exits = with_new_exits(imported, exit_plan(3, [1, 2]))
    save_checkpoint(with_exits, root / "exits")
    with torch.no_grad():
        with_exits.exits[-1].ramp.out_proj.bias.add_(1e-3)
    save_checkpoint(with_exits, root / "changed")
    return {"imported": root / "imported", "corpus": root / "corpus", "root": root}


@pytest.mark.parametrize(("after", "code"), [("exits", 0), ("changed", 1)])
def test_exits_keep_answers_and_a_changed_classifier_does_not(
    folders: dict[str, Path], after: str, code: int, capsys: pytest.CaptureFixture
) -> None:
    argv = ["--before", str(folders["imported"]), "--after", str(folders["root"] / after)]
    assert main([*argv, "--corpus", str(folders["corpus"])]) == code
    printed = capsys.readouterr().out
    assert ("bit-identical" in printed) == (code == 0)
    assert f"weights equal: {code == 0}" in printed
