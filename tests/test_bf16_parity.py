"""An imported classifier under bf16 autocast (`benchmarks/bf16_parity.py`, run here on the CPU,
which has bf16 autocast too) errs no more than transformers' own model does, and random exits
added for speed tests (`bench engine --add-exits`) leave its final classifier's answers alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hf_fixtures import import_cli, save_hf_classifier

from docexit.benchmarks.bf16_parity import main, measure, random_pages
from docexit.benchmarks.engine_setup import with_random_exits
from docexit.models.batch import collate
from docexit.models.checkpoint import load_checkpoint
from docexit.models.tokenizer import featurizer_for


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    hf = save_hf_classifier(tmp_path_factory.mktemp("hf"), layers=3, max_text=48, seed=4)
    out = tmp_path_factory.mktemp("imported")
    assert import_cli(hf, out) == 0
    return hf, out


def test_bf16_error_is_within_transformers_own(imported: tuple[Path, Path]) -> None:
    hf, model_dir = imported
    parity = measure(hf, model_dir, random_pages(3, seed=1), torch.device("cpu"))
    assert parity.pages == 3
    assert parity.docexit_fp32_vs_transformers_fp32 <= 1e-4
    assert parity.transformers_bf16_vs_fp32 > 0.0  # bf16 does change the logits
    assert parity.docexit_bf16_vs_transformers_fp32 <= parity.transformers_bf16_vs_fp32
    assert all(passed for passed, _ in parity.checks())


def test_parity_command_writes_its_figures(imported: tuple[Path, Path], tmp_path: Path) -> None:
    hf, model_dir = imported
    argv = ["--hf", str(hf), "--model", str(model_dir), "--random-pages", "2"]
    assert main([*argv, "--device", "cpu", "--json", str(tmp_path / "p.json")]) == 0
    assert '"labels_agree_bf16"' in (tmp_path / "p.json").read_text()


def test_random_exits_keep_the_imported_classifier(imported: tuple[Path, Path]) -> None:
    _, model_dir = imported
    model = load_checkpoint(model_dir)
    with_exits = with_random_exits(model, "1,2")
    assert with_exits.exit_layers == [0, 0, 1, 2, 3] and model.exit_layers == [3]
    words, boxes, image = random_pages(1, seed=2)[0]
    batch = collate([featurizer_for(model)(words, [tuple(b) for b in boxes], image)])
    with torch.no_grad():
        full = model(batch).logits[-1]  # (1, C)
        outputs = with_exits(batch).logits  # (E, 1, C)
    assert torch.equal(outputs[-1], full)
    assert outputs.shape[0] == 5 and not torch.equal(outputs[2], outputs[3])
