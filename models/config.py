"""`EarlyExitConfig`: everything needed to rebuild an `EarlyExitModel` (transformers conventions).

The backbone is a LayoutLMv3 configuration (a transformers sub-config: a dict in `config.json`,
a `LayoutLMv3Config` in memory). The exits are plain dicts so the file stays readable:

    {"layer": 0, "source": "vision", "head": "ramp"}   # pooled patch embeddings, before layer 1
    {"layer": 4, "source": "cls", "head": "gate"}      # CLS after encoder layer 4, ramp + gate
    {"layer": L, "source": "cls", "head": "ramp"}      # always last: the final classifier

Exits are ordered by depth; the final classifier (CLS after the last layer) is always the last
exit and is appended when missing. `temperatures` has one entry per exit, final included.
"""

from __future__ import annotations

import math
from typing import Any

from huggingface_hub.dataclasses import strict
from transformers import LayoutLMv3Config, PretrainedConfig

from docexit.models.visual_exit import validate_visual_exit
from docexit.transforms.records import LABELS

EXIT_SOURCES: tuple[str, ...] = ("text", "vision", "concat", "cls")  # order within one depth
MODALITY_SOURCES: tuple[str, ...] = ("text", "vision", "concat")  # only at layer 0
EXIT_HEADS: tuple[str, ...] = ("ramp", "gate")


def final_exit(num_layers: int) -> dict[str, Any]:
    """The final classifier: CLS after the last layer, a LayoutLMv3-style classification head."""
    return {"layer": int(num_layers), "source": "cls", "head": "ramp"}


def validate_exits(exits: list[dict[str, Any]], num_layers: int) -> list[dict[str, Any]]:
    """Normalise and check an exit list; returns a new list that ends with the final classifier.

    Raises ValueError with a readable message on unknown sources/heads, out-of-range layers,
    modality sources away from layer 0, CLS exits at layer 0, duplicates or wrong order.
    """
    out: list[dict[str, Any]] = []
    for i, e in enumerate(exits):
        if not isinstance(e, dict) or set(e) - {"layer", "source", "head"}:
            raise ValueError(f"exit {i} must be a dict with keys layer/source/head, got {e!r}")
        layer, source, head = int(e.get("layer", -1)), e.get("source", "cls"), e.get("head", "ramp")
        if source not in EXIT_SOURCES:
            raise ValueError(f"exit {i}: source must be one of {EXIT_SOURCES}, got {source!r}")
        if head not in EXIT_HEADS:
            raise ValueError(f"exit {i}: head must be one of {EXIT_HEADS}, got {head!r}")
        if not 0 <= layer <= num_layers:
            raise ValueError(f"exit {i}: layer must be within 0..{num_layers}, got {layer}")
        if source in MODALITY_SOURCES and layer != 0:
            raise ValueError(f"exit {i}: modality source {source!r} reads layer 0, got {layer}")
        if source == "cls" and layer == 0:
            raise ValueError(f"exit {i}: a 'cls' exit needs an encoder layer >= 1")
        out.append({"layer": layer, "source": source, "head": head})
    final = final_exit(num_layers)
    if not out or (out[-1]["layer"], out[-1]["source"]) != (num_layers, "cls"):
        out.append(final)
    if out[-1]["head"] != "ramp":
        raise ValueError("the final classifier has no gate (it is what the gates predict)")
    keys = [(e["layer"], EXIT_SOURCES.index(e["source"])) for e in out]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate exits: {out}")
    if keys != sorted(keys):
        raise ValueError(
            f"exits must be ordered by depth (text, vision, concat, cls at layer 0): {out}"
        )
    return out


def validate_confidence_maps(maps: list | None, num_exits: int) -> list[list[float]]:
    """One finite ``[slope, bias]`` per exit with slope > 0 (a monotone map); None: identity."""
    if maps is None:
        return [[1.0, 0.0] for _ in range(num_exits)]
    if len(maps) != num_exits:
        raise ValueError(
            f"confidence_maps has {len(maps)} entries for {num_exits} exits "
            "(one [slope, bias] per exit, final classifier included)"
        )
    out = []
    for i, pair in enumerate(maps):
        if len(pair) != 2 or not all(math.isfinite(float(v)) for v in pair) or not pair[0] > 0:
            raise ValueError(f"confidence map {i} must be [slope > 0, bias], got {pair!r}")
        out.append([float(pair[0]), float(pair[1])])
    return out


@strict
class EarlyExitConfig(PretrainedConfig):
    """Configuration of `EarlyExitModel` (see the module docstring for the exit format)."""

    model_type = "docexit-early-exit"
    sub_configs_defaults = {"backbone": LayoutLMv3Config}

    # LayoutLMv3 settings of the backbone (hidden size, layers, heads, vocab, bias flags, ...).
    backbone: dict | LayoutLMv3Config | None = None
    # Exit list, ordered by depth, final classifier last: [{"layer", "source", "head"}, ...].
    # None: just the final classifier.
    exits: list[dict] | None = None
    # Class names; label id i is label_names[i]. None: RVL-CDIP's 16 classes.
    label_names: list[str] | None = None
    # One softmax temperature per exit (final included), fitted on validation logits; 1.0 = none.
    temperatures: list[float] | None = None
    # One top-label confidence map (slope, bias) per exit, applied after the temperature:
    # confidence = sigmoid(slope * logit(p) + bias). None: the identity (1, 0) everywhere.
    confidence_maps: list[list[float]] | None = None
    # The chosen exit policy, as written by `policies.ExitPolicy.to_dict()` (opaque here).
    policy: dict | None = None
    # Dropout inside every exit head (before the dense layer and before the output layer).
    dropout: float = 0.1
    # Std of the normal init of exit heads (LayoutLMv3's initializer_range convention).
    initializer_range: float = 0.02
    # Text tokens per page the featurizer keeps ([CLS] and [SEP] included). None: as many as
    # the position embeddings allow (LayoutLMv3 numbers positions from pad_token_id + 1).
    max_text_tokens: int | None = None
    # How the backbone was initialised: "random", "minilm", "layoutlmv3:<dir>" or "docexit:<dir>"
    # (another docexit model's backbone); decides which parameters train at the pretrained rate.
    init_source: str = "random"
    # The image-only exit before OCR (`models/visual_exit.py`): kind, size, temperature and
    # threshold. None: the model has none and every page is OCRed.
    visual_exit: dict | None = None

    def __post_init__(self, **kwargs):
        # transformers before 5.2x leaves a sub-config given as a dict (as loaded from JSON)
        if not isinstance(self.backbone, LayoutLMv3Config):
            self.backbone = LayoutLMv3Config(**(self.backbone or {}))
        super().__post_init__(**kwargs)
        num_layers = int(self.backbone.num_hidden_layers)
        self.exits = validate_exits(list(self.exits or []), num_layers)
        self.label_names = list(self.label_names or LABELS)
        if len(self.label_names) < 2:
            raise ValueError("label_names needs at least two classes")
        self.id2label = dict(enumerate(self.label_names))
        self.label2id = {name: i for i, name in enumerate(self.label_names)}
        if self.temperatures is None:
            self.temperatures = [1.0] * len(self.exits)
        self.temperatures = [float(t) for t in self.temperatures]
        if len(self.temperatures) != len(self.exits):
            raise ValueError(
                f"temperatures has {len(self.temperatures)} values for {len(self.exits)} exits "
                "(one per exit, final classifier included)"
            )
        if any(not t > 0 for t in self.temperatures):
            raise ValueError(f"temperatures must be > 0, got {self.temperatures}")
        self.confidence_maps = validate_confidence_maps(self.confidence_maps, len(self.exits))
        limit = int(self.backbone.max_position_embeddings) - int(self.backbone.pad_token_id) - 1
        if self.max_text_tokens is None:
            self.max_text_tokens = limit
        if not 2 <= self.max_text_tokens <= limit:
            raise ValueError(f"max_text_tokens must be in [2, {limit}], got {self.max_text_tokens}")
        self.visual_exit = validate_visual_exit(self.visual_exit)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def num_layers(self) -> int:
        return int(self.backbone.num_hidden_layers)

    @property
    def image_size(self) -> int:
        """Side of the square page image the patch embeddings read."""
        return int(self.backbone.input_size)
