"""Featurizer (tokens, one box per token, pixels) and collate/ModelBatch."""

from __future__ import annotations

import functools
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from docexit.models.batch import ModelBatch, collate
from docexit.pipeline.defaults import bundled_model_dir
from docexit.transforms.featurize import (
    CLS_BOX,
    SEP_BOX,
    Featurizer,
    image_to_pixels,
)
from docexit.transforms.ocr import normalize_box

CLS, SEP, PAD = 101, 102, 0
BUNDLED = bundled_model_dir()  # the bundled model's MiniLM WordPiece tokenizer


@functools.cache
def featurizer(max_length: int = 512) -> Featurizer:
    return Featurizer(BUNDLED, max_length=max_length)


def page(size: tuple[int, int] = (60, 80), color: int = 255) -> Image.Image:
    return Image.new("L", size, color)


def test_tokenizer_contract() -> None:
    tok = featurizer().tokenizer
    assert tok.is_fast
    assert len(tok) == 30522
    assert (tok.cls_token_id, tok.sep_token_id, tok.pad_token_id) == (CLS, SEP, PAD)


def test_each_token_gets_its_words_box() -> None:
    words = ["Tobacco", "Lorillard", "RJR-Nabisco", "x"]
    boxes = [(10, 20, 30, 40), (50, 60, 70, 80), (100, 110, 120, 130), (1, 2, 3, 4)]
    f = featurizer()(words, boxes, page())
    tok = featurizer().tokenizer
    expected_ids, expected_boxes = [CLS], [CLS_BOX]
    for word, box in zip(words, boxes, strict=True):
        pieces = tok(word, add_special_tokens=False)["input_ids"]
        expected_ids += pieces
        expected_boxes += [box] * len(pieces)
    expected_ids.append(SEP)
    expected_boxes.append(SEP_BOX)
    assert len(expected_ids) > len(words) + 2  # some words split into several pieces
    assert f.input_ids.tolist() == expected_ids
    assert [tuple(b) for b in f.bbox.tolist()] == expected_boxes
    assert f.input_ids.dtype == np.int64 and f.bbox.dtype == np.int64
    assert f.pixel_values.shape == (3, 224, 224) and f.pixel_values.dtype == np.float32


def test_empty_page_is_cls_sep() -> None:
    f = featurizer()([], [], page())
    assert f.input_ids.tolist() == [CLS, SEP]
    assert [tuple(b) for b in f.bbox.tolist()] == [CLS_BOX, SEP_BOX]


def test_blank_and_unknown_words_keep_alignment() -> None:
    words = ["", "  ", "hello", "\x00", "中文", "wörld"]
    boxes = [(i, i, i + 1, i + 1) for i in range(len(words))]
    f = featurizer()(words, boxes, page())
    body = [tuple(b) for b in f.bbox.tolist()[1:-1]]
    assert (0, 0, 1, 1) not in body and (1, 1, 2, 2) not in body and (3, 3, 4, 4) not in body
    assert (2, 2, 3, 3) in body and (4, 4, 5, 5) in body and (5, 5, 6, 6) in body


def test_special_token_text_is_not_a_separator() -> None:
    f = featurizer()(["[SEP]", "[CLS]", "[PAD]"], [(1, 1, 2, 2)] * 3, page())
    assert f.input_ids[0] == CLS and f.input_ids[-1] == SEP
    assert SEP not in f.input_ids[1:-1] and CLS not in f.input_ids[1:-1]
    assert PAD not in f.input_ids


def test_truncation_keeps_sep_last() -> None:
    short = featurizer(16)
    words = [f"word{i}" for i in range(100)]
    f = short(words, [(i, i, i + 5, i + 5) for i in range(100)], page())
    assert f.num_tokens == 16
    assert f.input_ids[0] == CLS and f.input_ids[-1] == SEP
    assert tuple(f.bbox[-1]) == SEP_BOX and tuple(f.bbox[0]) == CLS_BOX
    assert tuple(f.bbox[1]) == (0, 0, 5, 5)


@pytest.mark.parametrize(
    ("boxes", "message"),
    [
        ([(0, 0, 1001, 10)], "within 0-1000"),
        ([(-1, 0, 10, 10)], "within 0-1000"),
        ([(10, 0, 5, 10)], "x0 <= x1"),
        ([(0, 0, 10)], "x0, y0, x1, y1"),
        ([(0.5, 0, 10, 10)], "integers"),
        ([], "one box per word"),
    ],
)
def test_bad_boxes_raise_clear_errors(boxes: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        featurizer()(["word"], boxes, page())


def test_max_length_must_fit_specials() -> None:
    with pytest.raises(ValueError, match="max_length"):
        Featurizer(BUNDLED, max_length=1)


def test_image_to_pixels_normalises() -> None:
    white = image_to_pixels(Image.new("RGB", (300, 500), (255, 255, 255)))
    black = image_to_pixels(Image.new("L", (30, 20), 0))
    assert white.shape == black.shape == (3, 224, 224)
    assert white.dtype == np.float32
    np.testing.assert_allclose(white, 1.0)
    np.testing.assert_allclose(black, -1.0)
    red = image_to_pixels(Image.new("RGB", (10, 10), (255, 0, 0)))
    np.testing.assert_allclose(red[0], 1.0)  # channel-first: R, G, B
    np.testing.assert_allclose(red[1:], -1.0)
    for mode in ("1", "P", "RGBA", "LA"):
        assert image_to_pixels(Image.new(mode, (50, 70))).shape == (3, 224, 224)
    assert image_to_pixels(page(), image_size=32).shape == (3, 32, 32)


def test_greyscale_page_resized_first_gives_the_pixels_of_converting_first() -> None:
    """A greyscale page skips converting the whole page to RGB: the same pixels as RGB first."""
    rng = np.random.default_rng(0)
    grey = Image.fromarray(rng.integers(0, 256, size=(1300, 1000), dtype=np.uint8), mode="L")
    for size in (128, 224):
        expected = image_to_pixels(grey.convert("RGB"), image_size=size)  # the RGB path
        np.testing.assert_array_equal(image_to_pixels(grey, image_size=size), expected)


# ----------------------------------------------------------------------------- properties

ocr_words = st.lists(st.text(max_size=12), max_size=40)


@st.composite
def ocr_output(draw: st.DrawFn) -> tuple[list[str], list[tuple[int, int, int, int]]]:
    """Random OCR output: unicode/empty words, pixel boxes anywhere on a random page."""
    words = draw(ocr_words)
    width = draw(st.integers(1, 5000))
    height = draw(st.integers(1, 5000))
    coord = st.floats(-100, 6000, allow_nan=False)
    boxes = [
        normalize_box((draw(coord), draw(coord), draw(coord), draw(coord)), width, height)
        for _ in words
    ]
    return words, boxes


@settings(max_examples=60, deadline=None)
@given(ocr_output(), st.integers(2, 64))
def test_featurizer_invariants(output: tuple[list[str], list], max_length: int) -> None:
    words, boxes = output
    for box in boxes:
        assert all(0 <= v <= 1000 for v in box)
        assert box[0] <= box[2] and box[1] <= box[3]
    fz = featurizer(max_length)
    f = fz(words, boxes, page((8, 8)))
    t = f.num_tokens
    assert 2 <= t <= max_length
    assert f.input_ids.shape == (t,) and f.bbox.shape == (t, 4)
    assert f.input_ids[0] == CLS and f.input_ids[-1] == SEP
    assert f.bbox.min() >= 0 and f.bbox.max() <= 1000
    assert tuple(f.bbox[0]) == CLS_BOX and tuple(f.bbox[-1]) == SEP_BOX
    word_boxes = {tuple(b) for b in boxes}
    assert all(tuple(b) in word_boxes for b in f.bbox[1:-1].tolist())
    if t < max_length:  # nothing truncated: every token of every word is there
        n_pieces = sum(len(fz.tokenizer(w, add_special_tokens=False)["input_ids"]) for w in words)
        assert t == n_pieces + 2


# ----------------------------------------------------------------------------- collate


def features(n_tokens: list[int]) -> list:
    fz = featurizer()
    out = []
    for n in n_tokens:
        words = ["a"] * (n - 2)  # "a" is one WordPiece
        out.append(fz(words, [(1, 2, 3, 4)] * len(words), page()))
    return out


def test_collate_pads_to_longest() -> None:
    batch = collate(features([3, 7, 2]))
    assert (batch.batch_size, batch.seq_len) == (3, 7)
    assert batch.input_ids.dtype == batch.bbox.dtype == batch.attention_mask.dtype == torch.long
    assert batch.pixel_values.dtype == torch.float32
    assert batch.pixel_values.shape == (3, 3, 224, 224)
    assert batch.attention_mask.sum(1).tolist() == [3, 7, 2]
    assert batch.input_ids[0].tolist() == [CLS, 1037, SEP, PAD, PAD, PAD, PAD]
    assert batch.bbox[0, 3:].eq(0).all() and batch.bbox[2, 2:].eq(0).all()
    assert batch.bbox[1, -1].tolist() == list(SEP_BOX)
    assert (batch.input_ids == PAD).eq(batch.attention_mask == 0).all()


def test_collate_pad_to() -> None:
    batch = collate(features([3, 5]), pad_to=16)
    assert batch.seq_len == 16
    assert batch.attention_mask.sum().item() == 8
    with pytest.raises(ValueError, match="shorter than the longest"):
        collate(features([3, 5]), pad_to=4)
    with pytest.raises(ValueError, match="at least one"):
        collate([])


def test_select_and_to() -> None:
    batch = collate(features([3, 4, 5]))
    sub = batch.select(torch.tensor([2, 0]))
    assert isinstance(sub, ModelBatch)
    assert (sub.batch_size, sub.seq_len) == (2, 5)
    assert sub.attention_mask.sum(1).tolist() == [5, 3]
    assert torch.equal(sub.input_ids[1], batch.input_ids[0])
    assert torch.equal(sub.pixel_values, batch.pixel_values[[2, 0]])
    assert batch.select(torch.tensor([], dtype=torch.long)).batch_size == 0
    moved = batch.to("cpu")
    assert moved.input_ids.device.type == "cpu" and torch.equal(moved.bbox, batch.bbox)
