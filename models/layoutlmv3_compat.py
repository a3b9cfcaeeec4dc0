"""One interface over the two LayoutLMv3 encoder APIs of transformers 5.x.

Recent releases compute one position bias for all layers (`encoder._compute_position_bias`,
already divided by sqrt(head size)) and pass it to each layer as `position_bias=`. Earlier 5.x
releases (GPU images ship them) pass the raw 1D and 2D biases as `rel_pos=` and `rel_2d_pos=`
and divide inside the attention. The model stores one bias tensor per page either way, so the
engine can compact it like any other state.
"""

from __future__ import annotations

import torch
from torch import nn


def has_shared_position_bias(encoder: nn.Module) -> bool:
    """True for the recent API (one scaled bias, `position_bias=`)."""
    return hasattr(encoder, "_compute_position_bias")


def position_bias(
    encoder: nn.Module, position_ids: torch.Tensor | None, bbox: torch.Tensor | None
) -> torch.Tensor | None:
    """The attention bias every layer adds, (B, heads, S, S), or None without relative bias.
    position_ids: (B, S); bbox: (B, S, 4) or None without spatial bias."""
    if has_shared_position_bias(encoder):
        return encoder._compute_position_bias(position_ids, bbox)
    if not encoder.has_relative_attention_bias:
        return None
    bias = encoder._cal_1d_pos_emb(position_ids)  # (B, heads, S, S), unscaled
    if encoder.has_spatial_attention_bias:
        bias = bias + encoder._cal_2d_pos_emb(bbox)
    return bias


def run_encoder_layer(
    encoder: nn.Module,
    layer: nn.Module,
    hidden: torch.Tensor,
    extended_mask: torch.Tensor | None,
    bias: torch.Tensor | None,
) -> torch.Tensor:
    """`layer` of `encoder` on hidden (B, S, H) with the bias from `position_bias`."""
    if has_shared_position_bias(encoder):
        return layer(hidden, extended_mask, position_bias=bias)
    # the old attention adds (rel_pos + rel_2d_pos) / sqrt(d); the sum is already in `bias`
    return layer(hidden, extended_mask, rel_pos=bias, rel_2d_pos=0 if bias is not None else None)
