"""The visual exit: a small CNN that classifies a page from its image alone, before any OCR.

On CPU, Tesseract costs most of a page's time. Pages whose image alone gives a confident,
calibrated answer (file folders, handwriting, adverts, forms, spreadsheets) leave the pipeline
here and never reach OCR; the rest go on to OCR and the multimodal early-exit model.

It reads the same `pixel_values` as the backbone (B, 3, 224, 224), turns them into an ink map
(greyscale, 0 = paper, 1 = ink) at its own, smaller side, and runs five conv blocks and a linear
classifier. A small CNN measured better than the backbone's linear patch embeddings with frozen
encoder layers over image tokens (see `docs/visual_exit.md`) and costs a few milliseconds per page.

Config (`EarlyExitConfig.visual_exit`, a plain dict):

    {"kind": "cnn", "image_size": 128, "widths": [16, 32, 64, 128, 128],
     "temperature": 1.0, "threshold": null}

`threshold` is the calibrated confidence at or above which a page exits before OCR; None means
the exit is trained but not used (every page is OCRed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch import nn

from docexit.transforms.featurize import IMAGE_MEAN, IMAGE_STD

VISUAL_EXIT_KINDS: tuple[str, ...] = ("cnn",)
DEFAULT_VISUAL_EXIT: dict[str, Any] = {
    "kind": "cnn",
    "image_size": 128,
    "widths": [16, 32, 64, 128, 128],
    "temperature": 1.0,
    "threshold": None,
}
MAX_SHIFT = 0.06  # training augmentation: shift of up to 6% of the side, each way
MAX_SCALE = 0.05  # and a zoom of up to +-5%
LABEL_SMOOTHING = 0.05  # of the visual exit's training loss (joint and alone)


def validate_visual_exit(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    """Normalise a visual-exit config dict (defaults filled in); ValueError on bad values."""
    if spec is None:
        return None
    unknown = set(spec) - set(DEFAULT_VISUAL_EXIT)
    if unknown:
        raise ValueError(f"visual_exit: unknown keys {sorted(unknown)}")
    out = {**DEFAULT_VISUAL_EXIT, **spec}
    if out["kind"] not in VISUAL_EXIT_KINDS:
        raise ValueError(
            f"visual_exit kind must be one of {VISUAL_EXIT_KINDS}, got {out['kind']!r}"
        )
    out["image_size"] = int(out["image_size"])
    out["widths"] = [int(w) for w in out["widths"]]
    if out["image_size"] < 2 ** len(out["widths"]) or any(w < 1 for w in out["widths"]):
        raise ValueError("visual_exit: image_size must survive one 2x pooling per conv block")
    out["temperature"] = float(out["temperature"])
    if not out["temperature"] > 0:
        raise ValueError("visual_exit temperature must be > 0")
    if out["threshold"] is not None:
        out["threshold"] = float(out["threshold"])
        if not 0.0 < out["threshold"] <= 1.0:
            raise ValueError("visual_exit threshold must be in (0, 1] or None")
    return out


def ink_map(pixel_values: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 3, S, S) backbone pixels (normalised RGB) -> (B, 1, size, size) ink in [0, 1]."""
    rgb = pixel_values * IMAGE_STD + IMAGE_MEAN  # (B, 3, S, S) in [0, 1]
    ink = 1.0 - rgb.mean(dim=1, keepdim=True)  # (B, 1, S, S)
    if ink.shape[-1] != size:
        ink = F.interpolate(ink, size=(size, size), mode="bilinear", antialias=True)
    return ink.clamp(0.0, 1.0)


def jitter(ink: torch.Tensor) -> torch.Tensor:
    """Training augmentation: a random shift and zoom per page (scans are never aligned).
    ink: (B, 1, S, S) -> (B, 1, S, S); paper (0) fills what moves in."""
    b = ink.shape[0]
    scale = 1.0 + MAX_SCALE * (2 * torch.rand(b, device=ink.device) - 1)  # (B,)
    theta = torch.zeros(b, 2, 3, device=ink.device, dtype=ink.dtype)  # (B, 2, 3) affine
    theta[:, 0, 0] = scale
    theta[:, 1, 1] = scale
    theta[:, :, 2] = 2 * MAX_SHIFT * (2 * torch.rand(b, 2, device=ink.device) - 1)
    grid = F.affine_grid(theta, list(ink.shape), align_corners=False)  # (B, S, S, 2)
    return F.grid_sample(ink, grid, align_corners=False, padding_mode="zeros")


def _conv_block(channels_in: int, channels_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class VisualExit(nn.Module):
    """Page image -> class logits, without text. `forward(pixel_values (B, 3, S, S)) -> (B, C)`."""

    def __init__(self, spec: dict[str, Any], num_classes: int, dropout: float = 0.2):
        super().__init__()
        self.spec = validate_visual_exit(spec)
        widths = self.spec["widths"]
        self.features = nn.Sequential(
            *(_conv_block(c_in, c_out) for c_in, c_out in zip([1, *widths], widths, strict=False))
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(widths[-1], num_classes)

    @property
    def image_size(self) -> int:
        return int(self.spec["image_size"])

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.classify_ink(ink_map(pixel_values.float(), self.image_size))

    def classify_ink(self, ink: torch.Tensor) -> torch.Tensor:
        """(B, 1, s, s) ink maps from `ink_map` -> (B, C) logits (jittered while training)."""
        if self.training:
            ink = jitter(ink)
        features = self.features(ink)  # (B, W, s / 2^blocks, s / 2^blocks)
        pooled = features.mean(dim=(2, 3))  # (B, W)
        return self.classifier(self.dropout(pooled))  # (B, C)


def load_visual_exit(model_dir: str | Path) -> VisualExit | None:
    """Only the visual exit of a checkpoint (its config entry and `visual_exit.*` weights), in
    eval mode, without building the transformer; None when the model has no visual exit."""
    folder = Path(model_dir)
    config = json.loads((folder / "config.json").read_text())
    if config.get("visual_exit") is None:
        return None
    exit_ = VisualExit(config["visual_exit"], len(config["label_names"]))
    prefix = "visual_exit."
    with safe_open(str(folder / "model.safetensors"), framework="pt") as weights:
        state = {
            key.removeprefix(prefix): weights.get_tensor(key).float()
            for key in weights.keys()  # noqa: SIM118 - safe_open is not a mapping
            if key.startswith(prefix)
        }
    state = {k: v.long() if k.endswith("num_batches_tracked") else v for k, v in state.items()}
    exit_.load_state_dict(state, strict=True)
    return exit_.eval()
