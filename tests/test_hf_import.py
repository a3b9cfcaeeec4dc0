"""`docexit import --hf`: a transformers LayoutLMv3 classifier becomes a docexit checkpoint whose
full-depth logits equal transformers' own (fed by `LayoutLMv3Processor(apply_ocr=False)`) within
1e-4, and bad folders are refused with a clear message (exit 2)."""

from __future__ import annotations

import json
import os
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from hf_fixtures import import_cli, page_image, page_words, save_hf_classifier, transformers_logits
from safetensors.torch import load_file
from transformers import LayoutLMv3ForSequenceClassification

from docexit.models.batch import collate
from docexit.models.checkpoint import load_checkpoint
from docexit.models.tokenizer import featurizer_for
from docexit.pipeline.cli.arguments import USAGE_EXIT
from docexit.transforms.records import LABELS

# beside the repository, or where DOCEXIT_RVL_SAMPLE points (a worktree elsewhere)
RVL_SAMPLE = Path(
    os.environ.get("DOCEXIT_RVL_SAMPLE")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "rvl-cdip-sample"
)
TOLERANCE = 1e-4


def docexit_logits(model_dir: Path, words, boxes, image) -> np.ndarray:
    """(C,) full-depth logits of the imported checkpoint, through its own featurizer."""
    model = load_checkpoint(model_dir)
    features = featurizer_for(model)(words, boxes, image)
    with torch.no_grad():
        return model(collate([features])).logits[-1, 0].numpy()


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_hf_classifier(tmp_path_factory.mktemp("hf"), max_text=40, seed=1)


@pytest.fixture(scope="module")
def imported(hf_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("imported")
    assert import_cli(hf_dir, out) == 0
    return out


def test_backbone_and_head_are_copied_bit_exact(hf_dir: Path, imported: Path) -> None:
    model = load_checkpoint(imported)
    source = load_file(str(hf_dir / "model.safetensors"))
    ours = model.backbone.state_dict()
    for name, tensor in source.items():
        if name.startswith("layoutlmv3."):
            assert torch.equal(ours[name.removeprefix("layoutlmv3.")], tensor), name
    head = model.exits[-1].ramp
    assert torch.equal(head.dense.weight, source["classifier.dense.weight"])
    assert torch.equal(head.out_proj.bias, source["classifier.out_proj.bias"])
    assert model.label_names == list(LABELS)
    assert model.exit_layers == [2]  # no exit heads yet: full depth
    assert (model.config.max_text_tokens, model.config.image_size) == (40, 64)


@pytest.mark.parametrize("n_words", [0, 9, 25, 300])  # 300 words: truncated to 40 tokens
def test_full_depth_logits_equal_transformers(hf_dir: Path, imported: Path, n_words: int) -> None:
    words, boxes = page_words(n_words, seed=10 + n_words)
    image = page_image(seed=n_words)
    theirs = transformers_logits(hf_dir, words, boxes, image)
    ours = docexit_logits(imported, words, boxes, image)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOLERANCE)


def test_batched_pages_keep_their_logits(hf_dir: Path, imported: Path) -> None:
    """Pages of different lengths padded together (pad id 1) give each page's own logits."""
    model = load_checkpoint(imported)
    featurizer = featurizer_for(model)
    pages = [(*page_words(n, seed=n), page_image(seed=n)) for n in (3, 30, 12)]
    with torch.no_grad():
        batch = model(collate([featurizer(*page) for page in pages])).logits[-1].numpy()
    for row, page in zip(batch, pages, strict=True):
        np.testing.assert_allclose(row, transformers_logits(hf_dir, *page), atol=TOLERANCE)


@pytest.mark.slow
def test_base_size_checkpoint_parity(tmp_path: Path) -> None:
    """LayoutLMv3-base's shape (12 layers, hidden 768, 12 heads, 224 px, 512 tokens), random."""
    hf = save_hf_classifier(
        tmp_path / "hf",
        hidden=768,
        layers=12,
        heads=12,
        intermediate=3072,
        max_text=512,
        image_size=224,
        init_range=0.02,
    )
    assert import_cli(hf, tmp_path / "imported") == 0
    words, boxes = page_words(700, seed=3)  # past the 512-token window
    image = page_image(seed=3, size=(850, 1100))
    theirs = transformers_logits(hf, words, boxes, image)
    ours = docexit_logits(tmp_path / "imported", words, boxes, image)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOLERANCE)


@pytest.mark.slow
@pytest.mark.skipif(not RVL_SAMPLE.is_dir(), reason="real RVL-CDIP sample not present")
def test_parity_on_real_pages(hf_dir: Path, imported: Path) -> None:
    """The same comparison on real scans: Tesseract's words and boxes, the scanned page."""
    from docexit.transforms.decode import decode_pages
    from docexit.transforms.ocr import ocr_image

    files = sorted((RVL_SAMPLE / "images").iterdir())[:6]
    for path in files:
        page = next(decode_pages(path.read_bytes(), str(path)))
        ocr = ocr_image(page.image)
        theirs = transformers_logits(hf_dir, ocr.words, ocr.boxes, page.image)
        ours = docexit_logits(imported, ocr.words, ocr.boxes, page.image)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOLERANCE, err_msg=str(path))


def test_labels_map_onto_rvl_cdip_names(tmp_path: Path) -> None:
    names = ["Letter", "Scientific Publication", "file-folder", "receipt"]
    hf = save_hf_classifier(tmp_path / "hf", labels=names)
    assert import_cli(hf, tmp_path / "out") == 0
    labels = load_checkpoint(tmp_path / "out").label_names
    assert labels == ["letter", "scientific_publication", "file_folder", "receipt"]


def test_pickled_weights_are_read_as_tensors_only(tmp_path: Path, hf_dir: Path) -> None:
    hf = tmp_path / "hf"
    shutil.copytree(hf_dir, hf)
    model = LayoutLMv3ForSequenceClassification.from_pretrained(str(hf_dir))
    (hf / "model.safetensors").unlink()
    torch.save(model.state_dict(), hf / "pytorch_model.bin")
    assert import_cli(hf, tmp_path / "out") == 0
    words, boxes = page_words(12, seed=4)
    image = page_image(seed=4)
    np.testing.assert_allclose(
        docexit_logits(tmp_path / "out", words, boxes, image),
        transformers_logits(hf_dir, words, boxes, image),
        atol=TOLERANCE,
    )


def _refused(hf: Path, out: Path, capsys: pytest.CaptureFixture) -> str:
    assert import_cli(hf, out) == USAGE_EXIT
    assert not (out / "model.safetensors").exists()
    return capsys.readouterr().err


def test_bad_folders_are_refused(
    tmp_path: Path, hf_dir: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    err = _refused(tiny_model_dir, out, capsys)
    assert "is not a LayoutLMv3 model (model_type 'docexit-early-exit')" in err
    assert "has no config.json" in _refused(tmp_path, out, capsys)

    hf = tmp_path / "other_tokenizer"
    shutil.copytree(hf_dir, hf)
    for name in ("tokenizer.json", "tokenizer_config.json"):  # MiniLM's WordPiece instead
        shutil.copyfile(tiny_model_dir / name, hf / name)
    assert "has 30522 tokens but the model's vocabulary has 600" in _refused(hf, out, capsys)

    pickled = tmp_path / "pickled"
    shutil.copytree(hf_dir, pickled)
    (pickled / "model.safetensors").unlink()
    torch.save({"weight": Fraction(1, 3)}, pickled / "pytorch_model.bin")  # not plain tensors
    assert "does not load with torch.load(weights_only=True)" in _refused(pickled, out, capsys)

    repeated = tmp_path / "repeated"
    shutil.copytree(hf_dir, repeated)
    config = json.loads((repeated / "config.json").read_text())
    config["id2label"] = {str(i): "memo" if i < 2 else LABELS[i] for i in range(16)}
    (repeated / "config.json").write_text(json.dumps(config))
    assert "labels are not unique: memo" in _refused(repeated, out, capsys)


def test_a_bare_layoutlmv3_model_imports_its_backbone(tmp_path: Path, hf_dir: Path) -> None:
    """A `LayoutLMv3Model` folder (no head): backbone copied, the final exit starts untrained."""
    bare = tmp_path / "bare"
    classifier = LayoutLMv3ForSequenceClassification.from_pretrained(str(hf_dir))
    classifier.layoutlmv3.save_pretrained(str(bare))
    for name in ("tokenizer.json", "tokenizer_config.json", "processor_config.json"):
        shutil.copyfile(hf_dir / name, bare / name)
    assert import_cli(bare, tmp_path / "out") == 0
    model = load_checkpoint(tmp_path / "out")
    for name, tensor in classifier.layoutlmv3.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[name], tensor), name
    assert model.label_names == list(LABELS)
