"""`docexit export --hf`: a checkpoint's backbone and final head as a transformers LayoutLMv3
folder that `from_pretrained` opens with no missing or unexpected keys and the same logits."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch
from hf_fixtures import import_cli, page_image, page_words, save_hf_classifier, transformers_logits
from transformers import LayoutLMv3ForSequenceClassification

from docexit.models.batch import collate
from docexit.models.checkpoint import load_checkpoint
from docexit.models.tokenizer import featurizer_for
from docexit.pipeline.cli import export_hf

TOLERANCE = 1e-4


def export_cli(model: Path, out: Path) -> int:
    parser = argparse.ArgumentParser()
    export_hf.add_arguments(parser)
    return export_hf.main(parser.parse_args(["--model", str(model), "--hf", str(out)]))


def opens_cleanly(folder: Path) -> LayoutLMv3ForSequenceClassification:
    model, info = LayoutLMv3ForSequenceClassification.from_pretrained(
        str(folder), output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    assert not info["mismatched_keys"], info
    return model.eval()


def test_imported_model_round_trips(tmp_path: Path) -> None:
    hf = save_hf_classifier(tmp_path / "hf", max_text=40, seed=5)
    assert import_cli(hf, tmp_path / "imported") == 0
    assert export_cli(tmp_path / "imported", tmp_path / "exported") == 0
    original = LayoutLMv3ForSequenceClassification.from_pretrained(str(hf)).state_dict()
    exported = opens_cleanly(tmp_path / "exported").state_dict()
    assert original.keys() == exported.keys()
    assert all(torch.equal(original[k], exported[k]) for k in original)
    words, boxes = page_words(60, seed=6)
    image = page_image(seed=6)
    np.testing.assert_allclose(
        transformers_logits(tmp_path / "exported", words, boxes, image),
        transformers_logits(hf, words, boxes, image),
        rtol=0,
        atol=TOLERANCE,
    )


def test_docexit_model_exports_its_final_classifier(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A model trained here (MiniLM vocabulary, with exits): the same full-depth logits."""
    assert export_cli(tiny_model_dir, tmp_path / "exported") == 0
    theirs = opens_cleanly(tmp_path / "exported")
    model = load_checkpoint(tiny_model_dir)
    assert theirs.config.id2label == dict(enumerate(model.label_names))
    words, boxes = page_words(30, seed=7)
    batch = collate([featurizer_for(model)(words, boxes, page_image(seed=7))])
    with torch.no_grad():
        ours = model(batch).logits[-1]
        exported = theirs(
            input_ids=batch.input_ids,
            bbox=batch.bbox,
            attention_mask=batch.attention_mask,
            pixel_values=batch.pixel_values,
        ).logits
    torch.testing.assert_close(exported, ours, rtol=0, atol=TOLERANCE)


def test_export_of_a_missing_model_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert export_cli(tmp_path / "missing", tmp_path / "out") == 2
    assert "does not exist" in capsys.readouterr().err
