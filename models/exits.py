"""Exit heads, exit pooling and exit placements (the paper's presets, scaled to any depth).

An exit reads one vector per page from the encoder state:
  "cls"     the text [CLS] state (position 0) after encoder layer k >= 1;
  "text"    the masked average of the text token embeddings, before the encoder (layer 0);
  "vision"  the patch embeddings (visual CLS excluded), before the encoder, as a bag: the head's
            dense + tanh runs on every patch and the features are averaged (a plain average of
            linear patch embeddings is a linear function of the mean patch, close to chance);
  "concat"  the masked average over the whole [text; visual CLS + patches] sequence, layer 0.
It then applies a "ramp" (class logits) and, for head "gate", also a gate (2 logits: is the final
classifier wrong / right, index 1 = right) from the same pooled vector.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from docexit.models.config import final_exit

# The paper's placements for a 12-layer backbone (exit after these encoder layers).
PAPER_PRESETS: dict[str, tuple[int, ...]] = {
    "none": (),
    "single": (7,),
    "quarter": (1, 4, 8, 10),
    "alternate": (2, 5, 9, 11),
    "all": tuple(range(1, 12)),
}
MODALITIES: dict[str, tuple[str, ...]] = {
    "none": (),
    "independent": ("text", "vision"),  # separate text and vision exits
    "concat": ("concat",),  # one exit on the concatenated sequence
}


def scale_layers(layers: tuple[int, ...] | list[int], num_layers: int) -> list[int]:
    """Maps 12-layer exit positions to a depth of `num_layers`: round(k * L / 12) (half up),
    clamped to 1..L-1 (layer L is the final classifier), deduplicated, sorted.

    For L = 6: single -> [4], quarter -> [1, 2, 4, 5], alternate -> [1, 3, 5], all -> [1..5].
    For L = 12 every preset is unchanged.
    """
    if num_layers < 2:
        return []
    scaled = {min(max((2 * k * num_layers + 12) // 24, 1), num_layers - 1) for k in layers}
    return sorted(scaled)


def exit_plan(
    num_layers: int,
    placement: str | list[int] | tuple[int, ...] = "quarter",
    modality: str = "none",
    head: str = "ramp",
) -> list[dict[str, Any]]:
    """The exit list for `EarlyExitConfig.exits`, final classifier included.

    placement: a preset name (PAPER_PRESETS, scaled to `num_layers`) or explicit encoder layers
    (1..L-1, used as given). modality: "none", "independent" (text + vision exits at layer 0) or
    "concat" (one exit on the concatenated sequence). head: "ramp" or "gate" for every
    non-final exit.
    """
    if isinstance(placement, str):
        if placement not in PAPER_PRESETS:
            raise ValueError(
                f"placement must be one of {sorted(PAPER_PRESETS)} or a list of layers"
            )
        layers = scale_layers(PAPER_PRESETS[placement], num_layers)
    else:
        layers = sorted({int(k) for k in placement})
        if any(not 1 <= k < num_layers for k in layers):
            raise ValueError(f"exit layers must be within 1..{num_layers - 1}, got {layers}")
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {sorted(MODALITIES)}, got {modality!r}")
    exits = [{"layer": 0, "source": s, "head": head} for s in MODALITIES[modality]]
    exits += [{"layer": k, "source": "cls", "head": head} for k in layers]
    return [*exits, final_exit(num_layers)]


class ExitHead(nn.Module):
    """dropout -> dense + tanh -> dropout -> linear: LayoutLMv3's classification head shape
    (same parameter names, `dense` and `out_proj`). A ramp outputs the classes, a gate 2 logits."""

    def __init__(self, hidden_size: int, num_outputs: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.out_proj = nn.Linear(hidden_size, num_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(..., H) -> (..., H): dropout, dense, tanh."""
        return torch.tanh(self.dense(self.dropout(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H) -> (B, num_outputs)."""
        return self.out_proj(self.dropout(self.features(x)))

    def forward_bag(self, tokens: torch.Tensor) -> torch.Tensor:
        """A bag of tokens (B, P, H) -> (B, num_outputs): per-token features, averaged."""
        return self.out_proj(self.dropout(self.features(tokens).mean(dim=1)))


class Exit(nn.Module):
    """One exit: where it reads (`layer`, `source`) and its heads (a ramp, plus a gate if asked)."""

    def __init__(self, spec: dict[str, Any], hidden_size: int, num_labels: int, dropout: float):
        super().__init__()
        self.layer: int = int(spec["layer"])
        self.source: str = spec["source"]
        self.ramp = ExitHead(hidden_size, num_labels, dropout)
        self.gate = ExitHead(hidden_size, 2, dropout) if spec["head"] == "gate" else None

    def pool(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, text_len: int
    ) -> torch.Tensor:
        """hidden (B, S, H), attention_mask (B, S) with S = text_len + 1 + patches -> (B, H).
        Not for "vision" exits, whose heads read the patches as a bag (see `forward`)."""
        assert hidden.shape[:2] == attention_mask.shape, (hidden.shape, attention_mask.shape)
        assert self.source != "vision", "vision exits pool inside their heads"
        if self.source == "cls":
            return hidden[:, 0]  # (B, H), text [CLS]
        if self.source == "text":
            hidden, attention_mask = hidden[:, :text_len], attention_mask[:, :text_len]
        mask = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (B, S', 1)
        total = (hidden * mask).sum(dim=1)  # (B, H)
        return total / mask.sum(dim=1).clamp(min=1.0)  # (B, H)

    def forward(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, text_len: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.source == "vision":
            patches = hidden[:, text_len + 1 :]  # (B, P, H)
            logits = self.ramp.forward_bag(patches)  # (B, C)
            gate = self.gate.forward_bag(patches) if self.gate is not None else None  # (B, 2)
            return logits, gate
        pooled = self.pool(hidden, attention_mask, text_len)  # (B, H)
        logits = self.ramp(pooled)  # (B, C)
        gate = self.gate(pooled) if self.gate is not None else None  # (B, 2)
        return logits, gate
