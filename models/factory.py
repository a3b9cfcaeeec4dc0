"""Build a fresh early-exit model from the command line's choices: backbone init, exit placement,
modality exits, head type, input sizes."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import LayoutLMv3Config

from docexit.models.backbone import backbone_config, minilm_backbone_config
from docexit.models.config import EarlyExitConfig
from docexit.models.exits import exit_plan
from docexit.models.model import EarlyExitModel

DEFAULT_IMAGE_SIZE = 224  # LayoutLMv3's page image side
DEFAULT_MAX_TEXT_TOKENS = 512


def parse_placement(placement: str) -> str | list[int]:
    """`quarter` stays a preset name; `1,3,5` becomes a list of layers."""
    if placement.replace(",", "").replace(" ", "").isdigit():
        return [int(part) for part in placement.split(",") if part.strip()]
    return placement


def docexit_config(init: str | Path) -> dict | None:
    """The saved config when `init` is a docexit model folder (not a bare LayoutLMv3), else None."""
    path = Path(init) / "config.json"
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return config if config.get("model_type") == EarlyExitConfig.model_type else None


def is_docexit_folder(init: str | Path) -> bool:
    """True when `init` is a folder holding a docexit checkpoint."""
    return docexit_config(init) is not None


def init_depth(init: str, backbone_overrides: dict | None = None) -> int:
    """Encoder layers of the backbone `init` builds, read before building it."""
    if init == "minilm":
        return int(minilm_backbone_config().num_hidden_layers)
    if init == "random":
        return int(backbone_config(**(backbone_overrides or {})).num_hidden_layers)
    if (saved := docexit_config(init)) is not None:
        return int(saved["backbone"]["num_hidden_layers"])
    if Path(init).is_dir():
        return int(LayoutLMv3Config.from_pretrained(init).num_hidden_layers)
    raise ValueError(
        "--init must be `minilm`, `random`, a LayoutLMv3 folder or a docexit model folder, "
        f"got {init!r}"
    )


def with_new_exits(
    model: EarlyExitModel, exits: list[dict], visual_exit: dict | None = None
) -> EarlyExitModel:
    """`model`'s backbone and final classifier (bit-exact) with new, untrained exits before it
    (`exits` as `exit_plan` gives them) and, if asked, a new visual exit. Calibration and policy
    are reset; training the exits alone leaves full-depth logits unchanged."""
    settings = model.config.to_dict()
    settings.update(
        exits=exits, temperatures=None, confidence_maps=None, policy=None, visual_exit=visual_exit
    )
    new = EarlyExitModel(EarlyExitConfig.from_dict(settings))
    if new.config.exits[-1] != model.config.exits[-1]:
        raise ValueError("the new exits must end with the same final classifier")
    new.backbone.load_state_dict(model.backbone.state_dict(), strict=True)
    new.exits[-1].load_state_dict(model.exits[-1].state_dict(), strict=True)
    new.tokenizer_dir = model.tokenizer_dir
    return new.to(model.device)


def build_model(
    init: str = "minilm",
    placement: str | list[int] = "quarter",
    modality: str = "independent",
    head: str = "ramp",
    max_length: int = DEFAULT_MAX_TEXT_TOKENS,
    image_size: int = DEFAULT_IMAGE_SIZE,
    label_names: list[str] | None = None,
    backbone_overrides: dict | None = None,
    visual_exit: dict | None = None,
) -> EarlyExitModel:
    """A new model. `init`: "minilm" (all-MiniLM-L6-v2 warm start), "random" (LayoutLMv3 shape
    from `backbone_overrides`), a folder with a LayoutLMv3 checkpoint, or a docexit model
    folder (its trained backbone, new exits). `visual_exit`: the image-only exit before OCR
    (`models/visual_exit.py` config; None = none)."""
    if isinstance(placement, str):
        placement = parse_placement(placement)
    overrides = {"input_size": image_size, **(backbone_overrides or {})}
    num_layers = init_depth(init, overrides)
    common = {
        "label_names": label_names,
        "max_text_tokens": max_length,
        "exits": exit_plan(num_layers, placement=placement, modality=modality, head=head),
        "visual_exit": visual_exit,
    }
    if init == "minilm":
        return EarlyExitModel.from_minilm(backbone_overrides=overrides, **common)
    if init == "random":
        config = EarlyExitConfig(backbone=backbone_config(**overrides).to_dict(), **common)
        return EarlyExitModel(config)
    if (saved := docexit_config(init)) is not None:
        saved_size = saved["backbone"].get("input_size")
        if saved_size != image_size:  # checked before loading its weights
            raise ValueError(f"{init} reads {saved_size} px page images, not {image_size}")
        return EarlyExitModel.from_docexit_backbone(init, **common)
    return EarlyExitModel.from_layoutlmv3(init, **common)
