"""`EarlyExitModel`: a LayoutLMv3 backbone with exits, run whole (`forward`) or layer by layer.

Step API, used by the batched engine and by `classify`:

    state = model.embed(batch)                      # layer 0: embeddings, masks, position bias
    for i in model.exits_at(0): model.exit_logits(i, state)      # modality exits
    for k in range(1, model.num_layers + 1):
        state = model.run_layer(k, state)           # encoder layer k (1-based)
        for i in model.exits_at(k): model.exit_logits(i, state)
    state = state.select(keep)                      # drop exited pages at any point

`forward` is exactly that loop with every exit evaluated; `embed` + all layers reproduces
`LayoutLMv3Model.forward` (tested), since both call the same transformers submodules.

Sequence layout: S = T text tokens + 1 visual CLS + P patches (P = (224 / 16)^2 = 196).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch
from torch import nn
from transformers import LayoutLMv3Model, PreTrainedModel
from transformers.masking_utils import create_bidirectional_mask

from docexit.models import layoutlmv3_compat as compat
from docexit.models.backbone import (
    check_backbone_config,
    load_layoutlmv3,
    load_minilm_weights,
    minilm_backbone_config,
    minilm_weight_map,
)
from docexit.models.config import EarlyExitConfig
from docexit.models.exits import Exit
from docexit.models.text_prior import TextPrior
from docexit.models.visual_exit import VisualExit

if TYPE_CHECKING:
    from pathlib import Path

    from docexit.models.batch import ModelBatch

MAX_BBOX = 1000  # boxes are normalised to 0-1000 (docs/design.md)


@dataclass
class ExitOutputs:
    """Every exit's outputs for a batch, exits ordered by depth, final classifier last."""

    logits: torch.Tensor  # (E, B, C), uncalibrated
    # (E, B, 2) if any exit has a gate, else None. Exits without a gate (the final classifier
    # always) are filled with zeros (gate probability 0.5); see EarlyExitModel.has_gate.
    gate_logits: torch.Tensor | None


@dataclass
class ExitLogits:
    """One exit's outputs for the pages of an `EncoderState`."""

    logits: torch.Tensor  # (B, C), uncalibrated
    gate: torch.Tensor | None  # (B, 2): logit 1 = "the final classifier is right"; None if no gate


def _as_index(
    index: torch.Tensor | Sequence[int], num_pages: int, device: torch.device
) -> torch.Tensor:
    """Row indices (long) from a bool mask (B,) or integer indices."""
    index = torch.as_tensor(index, device=device)
    if index.dtype == torch.bool:
        assert index.shape == (num_pages,), (index.shape, num_pages)
        return index.nonzero().squeeze(1)
    return index.long().reshape(-1)  # out-of-range rows fail in index_select


@dataclass
class EncoderState:
    """The per-page encoder state between layers. Every tensor's dim 0 is the page."""

    hidden: torch.Tensor  # (B, S, H), output of encoder layer `layer` (0 = embeddings)
    attention_mask: torch.Tensor  # (B, S) long, 1 = real token (visual tokens are always 1)
    # The mask in the layout the attention implementation wants, as transformers'
    # create_bidirectional_mask builds it (e.g. (B, 1, S, S) bool for sdpa); None = no padding.
    extended_mask: torch.Tensor | None
    # (B, heads, S, S) relative 1D (+ spatial 2D) attention bias, shared by all layers, already
    # scaled; None when the backbone has no relative attention bias (MiniLM warm start).
    position_bias: torch.Tensor | None
    text_len: int  # T: hidden[:, :T] are text tokens, hidden[:, T] the visual CLS, then patches
    layer: int  # encoder layers applied so far

    def __post_init__(self) -> None:
        b, s, _ = self.hidden.shape
        assert self.attention_mask.shape == (b, s), (self.attention_mask.shape, (b, s))
        assert self.extended_mask is None or self.extended_mask.shape[0] == b
        assert self.position_bias is None or self.position_bias.shape[0] == b
        assert 0 < self.text_len < s

    @property
    def num_pages(self) -> int:
        return int(self.hidden.shape[0])

    def select(self, index: torch.Tensor | Sequence[int]) -> EncoderState:
        """The state of the pages `index` (bool mask (B,) or row indices), in that order."""
        rows = _as_index(index, self.num_pages, self.hidden.device)

        def pick(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.index_select(0, rows)

        return replace(
            self,
            hidden=pick(self.hidden),
            attention_mask=pick(self.attention_mask),
            extended_mask=pick(self.extended_mask),
            position_bias=pick(self.position_bias),
        )


class EarlyExitModel(PreTrainedModel):
    """LayoutLMv3 backbone (`self.backbone`, transformers' LayoutLMv3Model) + `self.exits`."""

    config_class = EarlyExitConfig
    config: EarlyExitConfig
    base_model_prefix = "early_exit"
    main_input_name = "input_ids"
    input_modalities = ("image", "text")
    _supports_sdpa = True
    _supports_flex_attn = False

    def __init__(self, config: EarlyExitConfig):
        super().__init__(config)
        check_backbone_config(config.backbone)
        self.backbone = LayoutLMv3Model(config.backbone)
        hidden, classes = config.backbone.hidden_size, len(config.label_names)
        self.exits = nn.ModuleList(
            Exit(spec, hidden, classes, config.dropout) for spec in config.exits
        )
        self.visual_exit = (
            VisualExit(config.visual_exit, classes) if config.visual_exit is not None else None
        )
        # The folder this model's tokenizer comes from (`models/tokenizer.py`); None: MiniLM's
        # for a MiniLM-vocabulary backbone.
        self.tokenizer_dir: str | None = None
        # What bag-of-words classifiers say of a page's words, pooled into every exit's output
        # (`models/text_prior.py`); None: the exits alone.
        self.text_prior: TextPrior | None = None
        self._exits_at = {
            k: [i for i, e in enumerate(config.exits) if e["layer"] == k]
            for k in range(config.num_layers + 1)
        }
        self.post_init()

    # ---- constructors for the three initialisations ------------------------------------------

    @classmethod
    def from_minilm(
        cls,
        path: str | Path | None = None,
        backbone_overrides: dict | None = None,
        **config_kwargs,
    ) -> EarlyExitModel:
        """Backbone warm-started from all-MiniLM-L6-v2 (backbone.py explains the mapping);
        `backbone_overrides` change fresh parts only (e.g. `input_size` of the page image);
        `config_kwargs` go to EarlyExitConfig (exits, label_names, dropout, ...)."""
        backbone = {**minilm_backbone_config(path).to_dict(), **(backbone_overrides or {})}
        config = EarlyExitConfig(backbone=backbone, init_source="minilm", **config_kwargs)
        model = cls(config)
        load_minilm_weights(model.backbone, path)
        model.tokenizer_dir = str(path) if path is not None else None
        return model

    @classmethod
    def from_layoutlmv3(cls, folder: str | Path, **config_kwargs) -> EarlyExitModel:
        """Backbone from a local LayoutLMv3 checkpoint (safetensors); exits start fresh."""
        source = load_layoutlmv3(folder)
        config = EarlyExitConfig(
            backbone=source.config.to_dict(), init_source=f"layoutlmv3:{folder}", **config_kwargs
        )
        model = cls(config)
        missing, unexpected = model.backbone.load_state_dict(source.state_dict(), strict=True)
        assert not missing and not unexpected
        model.tokenizer_dir = str(folder)
        return model

    @classmethod
    def from_docexit_backbone(cls, folder: str | Path, **config_kwargs) -> EarlyExitModel:
        """Backbone of a trained docexit checkpoint (its exits are dropped); exits start fresh.
        How `docexit study` shares one corpus-trained backbone among its designs."""
        from docexit.models.checkpoint import load_checkpoint

        source = load_checkpoint(folder)
        config = EarlyExitConfig(
            backbone=source.config.backbone.to_dict(),
            init_source=f"docexit:{folder}",
            **config_kwargs,
        )
        model = cls(config)
        missing, unexpected = model.backbone.load_state_dict(
            source.backbone.state_dict(), strict=True
        )
        assert not missing and not unexpected
        model.tokenizer_dir = str(folder)
        return model

    # ---- structure ---------------------------------------------------------------------------

    @property
    def num_layers(self) -> int:
        return self.config.num_layers

    @property
    def exit_layers(self) -> list[int]:
        """Encoder layer each exit reads (0 = before the encoder), final classifier last."""
        return [e.layer for e in self.exits]

    @property
    def has_gate(self) -> list[bool]:
        return [e.gate is not None for e in self.exits]

    @property
    def temperatures(self) -> list[float]:
        return list(self.config.temperatures)

    @property
    def confidence_maps(self) -> list[tuple[float, float]]:
        """Each exit's top-label confidence map (slope, bias), applied after its temperature."""
        return [(float(a), float(b)) for a, b in self.config.confidence_maps]

    @property
    def label_names(self) -> list[str]:
        return list(self.config.label_names)

    def exits_at(self, k: int) -> list[int]:
        """Exit indices that read the state after encoder layer k (0 = embeddings)."""
        return list(self._exits_at.get(k, []))

    def is_exit_parameter(self, name: str) -> bool:
        """True for exit-head parameters (everything outside the backbone, visual exit included)."""
        return name.startswith(("exits.", "visual_exit."))

    def is_pretrained_parameter(self, name: str) -> bool:
        """True for backbone parameters copied from pretrained weights (init_source)."""
        if not name.startswith("backbone."):
            return False
        local = name.removeprefix("backbone.")
        if self.config.init_source == "minilm":
            return (
                local in minilm_weight_map(self.num_layers)
                or local == "embeddings.position_embeddings.weight"
            )
        return self.config.init_source.startswith(("layoutlmv3", "docexit"))

    def parameter_counts_to_exit(self) -> list[int]:
        """Parameters used up to each exit: the whole embedding stage (text, layout and patch
        embeddings run together before any exit, so modality exits count all of it), encoder
        layers 1..k with the shared attention bias, and the exit's own heads. (Counting a vision
        exit's patch embeddings alone would give it most of the paper's 1/parameters loss weight.)"""
        b = self.backbone

        def count(*modules: nn.Module | nn.Parameter | None) -> int:
            total = 0
            for m in modules:
                if isinstance(m, nn.Parameter):
                    total += m.numel()
                elif m is not None:
                    total += sum(p.numel() for p in m.parameters())
            return total

        text = count(b.embeddings)
        vision = count(b.patch_embed, b.cls_token, b.pos_embed, b.norm)
        joint = count(b.LayerNorm)
        enc = b.encoder
        bias = count(
            *(getattr(enc, n, None) for n in ("rel_pos_bias", "rel_pos_x_bias", "rel_pos_y_bias"))
        )
        layers = [count(layer) for layer in enc.layer]
        counts = []
        for e in self.exits:
            reads = text + vision
            encoder = sum(layers[: e.layer]) + (bias if e.layer > 0 else 0)
            counts.append(reads + joint + encoder + count(e))
        return counts

    # ---- step API ----------------------------------------------------------------------------

    def _check_batch(self, batch: ModelBatch) -> None:
        cfg = self.config.backbone
        ids, bbox, mask, pixels = (
            batch.input_ids,
            batch.bbox,
            batch.attention_mask,
            batch.pixel_values,
        )
        b, t = ids.shape
        if bbox.shape != (b, t, 4) or mask.shape != (b, t):
            raise ValueError(
                f"bbox must be (B, T, 4) and attention_mask (B, T) for input_ids {(b, t)}, "
                f"got {tuple(bbox.shape)} and {tuple(mask.shape)}"
            )
        size = cfg.input_size
        if pixels.shape != (b, cfg.num_channels, size, size):
            raise ValueError(
                f"pixel_values must be {(b, cfg.num_channels, size, size)}, got {tuple(pixels.shape)}"
            )
        max_len = cfg.max_position_embeddings - cfg.pad_token_id - 1
        if not 0 < t <= max_len:
            raise ValueError(f"text length must be within 1..{max_len} tokens, got {t}")
        if b and (int(bbox.min()) < 0 or int(bbox.max()) > MAX_BBOX):
            raise ValueError(f"bbox values must be within 0-{MAX_BBOX}")
        if b and (int(ids.min()) < 0 or int(ids.max()) >= cfg.vocab_size):
            raise ValueError(f"input_ids must be within 0..{cfg.vocab_size - 1}")

    def embed(self, batch: ModelBatch) -> EncoderState:
        """Layer 0: text + layout embeddings and patch embeddings, joined and normalised, with the
        attention mask and position bias every layer uses (as LayoutLMv3Model.forward builds them)."""
        self._check_batch(batch)
        bb, cfg = self.backbone, self.config.backbone
        bbox = batch.bbox  # (B, T, 4)
        # padding takes the vocabulary's own pad id, whatever id the batch was padded with
        input_ids = batch.input_ids.masked_fill(batch.attention_mask == 0, cfg.pad_token_id)
        b, t = input_ids.shape  # (B, T)
        device = input_ids.device
        text = bb.embeddings(
            input_ids=input_ids,
            bbox=bbox,
            token_type_ids=torch.zeros_like(input_ids),
        )  # (B, T, H); position ids from input_ids (RoBERTa-style, pad = pad_token_id)
        visual = bb.forward_image(batch.pixel_values)  # (B, 1 + P, H)
        v = visual.shape[1]
        attention_mask = torch.cat(
            [batch.attention_mask.long(), torch.ones(b, v, dtype=torch.long, device=device)], dim=1
        )  # (B, S)
        final_bbox = final_position_ids = None
        if cfg.has_relative_attention_bias or cfg.has_spatial_attention_bias:
            if cfg.has_spatial_attention_bias:
                visual_bbox = bb.calculate_visual_bbox(device, dtype=torch.long, batch_size=b)
                final_bbox = torch.cat([bbox, visual_bbox], dim=1)  # (B, S, 4)
            text_pos = torch.arange(t, device=device).unsqueeze(0).expand(b, t)  # (B, T)
            visual_pos = torch.arange(v, device=device).unsqueeze(0).expand(b, v)  # (B, 1 + P)
            final_position_ids = torch.cat([text_pos, visual_pos], dim=1)  # (B, S)
        hidden = bb.dropout(bb.LayerNorm(torch.cat([text, visual], dim=1)))  # (B, S, H)
        extended_mask = create_bidirectional_mask(
            config=cfg, inputs_embeds=hidden, attention_mask=attention_mask
        )
        position_bias = compat.position_bias(bb.encoder, final_position_ids, final_bbox)
        return EncoderState(
            hidden, attention_mask, extended_mask, position_bias, text_len=t, layer=0
        )

    def run_layer(self, k: int, state: EncoderState) -> EncoderState:
        """Encoder layer k (1-based) on a state that has run layers 1..k-1."""
        assert 1 <= k <= self.num_layers, k
        assert state.layer == k - 1, f"state is after layer {state.layer}, cannot run layer {k}"
        encoder = self.backbone.encoder
        hidden = compat.run_encoder_layer(
            encoder, encoder.layer[k - 1], state.hidden, state.extended_mask, state.position_bias
        )  # (B, S, H)
        return replace(state, hidden=hidden, layer=k)

    def exit_logits(self, exit_index: int, state: EncoderState) -> ExitLogits:
        """Exit `exit_index` on a state at that exit's depth."""
        head = self.exits[exit_index]
        assert state.layer == head.layer, (
            f"exit {exit_index} reads layer {head.layer}, state is at {state.layer}"
        )
        logits, gate = head(state.hidden, state.attention_mask, state.text_len)  # (B, C), (B, 2)
        return ExitLogits(logits=logits, gate=gate)

    # ---- whole forward -------------------------------------------------------------------------

    def forward(self, batch: ModelBatch) -> ExitOutputs:
        """All exits for all pages (training, calibration): the step API without early exit."""
        state = self.embed(batch)
        outputs: list[ExitLogits] = [self.exit_logits(i, state) for i in self.exits_at(0)]
        for k in range(1, self.num_layers + 1):
            state = self.run_layer(k, state)
            outputs += [self.exit_logits(i, state) for i in self.exits_at(k)]
        assert len(outputs) == len(self.exits)
        logits = torch.stack([o.logits for o in outputs])  # (E, B, C)
        gate_logits = None
        if any(self.has_gate):
            zeros = logits.new_zeros(logits.shape[1], 2)  # (B, 2)
            gate_logits = torch.stack(
                [zeros if o.gate is None else o.gate for o in outputs]
            )  # (E, B, 2)
        return ExitOutputs(logits=logits, gate_logits=gate_logits)
