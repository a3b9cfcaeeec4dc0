"""The visual exit before OCR: config, ink maps, training, threshold choice, checkpoint round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config
from PIL import Image, ImageDraw

from docexit.models.checkpoint import load_checkpoint, save_checkpoint
from docexit.models.model import EarlyExitModel
from docexit.models.training.visual_training import (
    InkPages,
    add_visual_exit,
    combine,
    select_visual_threshold,
    train_visual_exit,
    visual_logits,
)
from docexit.models.visual_exit import (
    VisualExit,
    ink_map,
    load_visual_exit,
    validate_visual_exit,
)
from docexit.transforms.featurize import image_to_pixels

SMALL = {"image_size": 32, "widths": [4, 8, 8]}


def _page(kind: int, seed: int) -> Image.Image:
    """Two page layouts a CNN can tell apart: horizontal text lines vs. a grid of boxes."""
    rng = np.random.default_rng(seed)
    image = Image.new("L", (224, 224), 255)
    draw = ImageDraw.Draw(image)
    shift = int(rng.integers(0, 12))
    if kind == 0:
        for y in range(20 + shift, 200, 14):
            draw.rectangle([20, y, 200 - int(rng.integers(0, 60)), y + 5], fill=0)
    else:
        for x in range(20 + shift, 190, 50):
            for y in range(20, 190, 50):
                draw.rectangle([x, y, x + 35, y + 35], outline=0, width=3)
    return image


def _ink_pages(n: int, seed: int) -> InkPages:
    kinds = [i % 2 for i in range(n)]
    pixels = np.stack([image_to_pixels(_page(k, seed + i)) for i, k in enumerate(kinds)])
    return InkPages(ink_map(torch.from_numpy(pixels), SMALL["image_size"]), torch.tensor(kinds))


def test_config_validation_fills_defaults_and_rejects_bad_values():
    spec = validate_visual_exit({"threshold": 0.9})
    assert spec["kind"] == "cnn" and spec["threshold"] == 0.9 and spec["temperature"] == 1.0
    assert validate_visual_exit(None) is None
    for bad in ({"kind": "vit"}, {"threshold": 1.5}, {"temperature": 0}, {"colour": 1}):
        with pytest.raises(ValueError):
            validate_visual_exit(bad)
    with pytest.raises(ValueError, match="pooling"):
        validate_visual_exit({"image_size": 8, "widths": [4, 4, 4, 4]})


def test_ink_map_is_zero_on_blank_paper_and_one_on_black_ink():
    white = torch.from_numpy(image_to_pixels(Image.new("L", (300, 400), 255)))[None]
    black = torch.from_numpy(image_to_pixels(Image.new("L", (300, 400), 0)))[None]
    assert ink_map(white, 64).shape == (1, 1, 64, 64)
    assert float(ink_map(white, 64).max()) == pytest.approx(0.0, abs=1e-6)
    assert float(ink_map(black, 64).min()) == pytest.approx(1.0, abs=1e-6)


def test_training_learns_two_layouts_and_keeps_the_best_epoch():
    exit_ = VisualExit(SMALL, num_classes=2, dropout=0.0)
    train, validation = _ink_pages(32, seed=0), _ink_pages(16, seed=100)
    before = float(
        (visual_logits(exit_, validation).argmax(-1) == validation.labels).float().mean()
    )
    history = train_visual_exit(exit_, train, validation, epochs=12, batch_size=8, lr=1e-2)
    after = float((visual_logits(exit_, validation).argmax(-1) == validation.labels).float().mean())
    assert len(history) == 12
    assert after == max(h.val_accuracy for h in history)  # the best epoch's weights are kept
    assert after >= 0.9 and after > before


def test_threshold_is_the_lowest_that_keeps_the_system_accuracy():
    labels = torch.tensor([0, 1, 0, 1, 0, 1, 0, 1])
    system = labels.clone()  # the always-OCR system is right on every page
    # the visual exit is sure and right on the first 4 pages, hesitant and wrong on the rest
    logits = torch.full((8, 2), 0.0)
    logits[torch.arange(4), labels[:4]] = 8.0
    logits[torch.arange(4, 8), 1 - labels[4:]] = 0.4
    selection = select_visual_threshold(logits, system, labels, confidence=None)
    assert selection.threshold is not None
    predictions, skips = combine(
        (logits / selection.temperature).softmax(-1), system, selection.threshold
    )
    assert skips.tolist() == [True] * 4 + [False] * 4
    assert selection.skip_share == 0.5 and selection.accuracy == 1.0
    # a floor on the threshold is respected, and can rule every threshold out
    floored = select_visual_threshold(logits, system, labels, confidence=None, min_threshold=0.97)
    assert floored.threshold is not None and floored.threshold >= 0.97
    assert floored.threshold > selection.threshold or selection.threshold >= 0.97
    never = select_visual_threshold(logits, system, labels, confidence=None, min_threshold=1.5)
    assert never.threshold is None and never.skip_share == 0.0
    # a visual exit that is confidently wrong everywhere never gets a threshold
    wrong = torch.zeros(8, 2)
    wrong[torch.arange(8), 1 - labels] = 9.0
    assert select_visual_threshold(wrong, system, labels, confidence=None).threshold is None


def _tiny_model() -> EarlyExitModel:
    config = tiny_config(visual_exit={**SMALL, "threshold": 0.8, "temperature": 1.5})
    return EarlyExitModel(config).eval()


def test_checkpoint_round_trip_and_loading_the_visual_exit_alone(tmp_path):
    model = _tiny_model()
    assert model.is_exit_parameter("visual_exit.classifier.weight")
    pixels = torch.from_numpy(
        np.stack([image_to_pixels(_page(0, 1)), image_to_pixels(_page(1, 2))])
    )
    expected = model.visual_exit(pixels)  # (2, C)
    save_checkpoint(model, tmp_path / "m", dtype=torch.float16)
    loaded = load_checkpoint(tmp_path / "m")
    alone = load_visual_exit(tmp_path / "m")
    assert loaded.config.visual_exit["threshold"] == 0.8
    assert alone.spec == loaded.config.visual_exit
    torch.testing.assert_close(alone(pixels), loaded.visual_exit(pixels))
    torch.testing.assert_close(alone(pixels), expected, atol=2e-2, rtol=2e-2)  # float16 storage


def test_add_visual_exit_replaces_and_records_the_spec():
    model = _tiny_model()
    exit_ = add_visual_exit(model, {"image_size": 64, "widths": [4, 4]})
    assert model.visual_exit is exit_
    assert (
        model.config.visual_exit["image_size"] == 64
        and model.config.visual_exit["threshold"] is None
    )
