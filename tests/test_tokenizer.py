"""The tokenizer travels with the weights: every checkpoint folder holds it, the featurizer reads
it from there and encodes exactly as the checkpoint's own processor, and a folder whose
tokenizer is missing or does not fit its vocabulary is refused at start-up (exit 2)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hf_fixtures import page_image, page_words, save_hf_classifier
from transformers import AutoTokenizer, LayoutLMv3Processor

from docexit.models.backbone import minilm_path
from docexit.models.hf_import import import_checkpoint
from docexit.pipeline.defaults import bundled_model_dir
from docexit.pipeline.run import USAGE_EXIT, main
from docexit.transforms.featurize import Featurizer, TokenizerError


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_hf_classifier(tmp_path_factory.mktemp("hf"), max_text=40)


def test_bundled_model_holds_minilm_tokenizer() -> None:
    featurizer = Featurizer(bundled_model_dir())
    minilm = AutoTokenizer.from_pretrained(str(minilm_path()))
    words = ["Lorillard", "Tobacco", "RJR-Nabisco", "memo"]
    ours = featurizer.tokenize(words, [(1, 2, 3, 4)] * len(words))[0]
    assert ours.tolist() == minilm(words, is_split_into_words=True)["input_ids"]
    assert featurizer.tokenizer.vocab == minilm.vocab


@pytest.mark.parametrize("n_words", [0, 7, 120])  # 120 words: far past the 40-token window
def test_encoding_follows_the_checkpoints_processor(hf_dir: Path, n_words: int) -> None:
    words, boxes = page_words(n_words, seed=n_words)
    image = page_image(seed=n_words)
    processor = LayoutLMv3Processor.from_pretrained(str(hf_dir))
    expected = processor(
        image.convert("RGB"), words, boxes=[list(b) for b in boxes], truncation=True
    )
    features = Featurizer(hf_dir, max_length=40, image_size=64)(words, boxes, image)
    assert features.input_ids.tolist() == expected["input_ids"]
    assert features.bbox.tolist() == expected["bbox"]
    np.testing.assert_array_equal(features.pixel_values, expected["pixel_values"][0])
    assert features.input_ids[0] == 0 and features.input_ids[-1] == 2  # <s> ... </s>
    if n_words == 120:
        assert features.num_tokens == 40


def test_missing_tokenizer_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="no tokenizer"):
        Featurizer(tmp_path)


def _run_exit(model: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    pages = tmp_path / "pages"
    pages.mkdir(exist_ok=True)
    page_image(0).save(pages / "p.png")
    code = main(
        ["--input", str(pages / "*"), "--model", str(model), "--output", str(tmp_path / "o")]
    )
    return code, capsys.readouterr().err


def test_run_refuses_a_model_without_its_tokenizer(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    (model / "tokenizer.json").unlink()
    code, err = _run_exit(model, tmp_path, capsys)
    assert code == USAGE_EXIT
    assert "has no tokenizer (tokenizer.json missing)" in err


def test_run_refuses_a_tokenizer_of_another_vocabulary(
    tmp_path: Path, tiny_model_dir: Path, hf_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    for name in ("tokenizer.json", "tokenizer_config.json"):  # the BPE one over MiniLM's ids
        shutil.copyfile(hf_dir / name, model / name)
    code, err = _run_exit(model, tmp_path, capsys)
    assert code == USAGE_EXIT
    assert "the model's vocabulary has 30522" in err


def test_checkpoint_folders_carry_the_tokenizer(tmp_path: Path, hf_dir: Path) -> None:
    import_checkpoint(hf_dir, tmp_path / "imported")
    for name in ("tokenizer.json", "tokenizer_config.json", "preprocessor_config.json"):
        assert (tmp_path / "imported" / name).is_file(), name
    words, boxes = page_words(30, seed=1)
    ours = Featurizer(tmp_path / "imported", 40, 64).tokenize(words, boxes)
    theirs = Featurizer(hf_dir, 40, 64).tokenize(words, boxes)
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))
