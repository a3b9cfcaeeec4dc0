"""Cohorts: pages at the same depth in one batch, and how the engine merges, pads and trims
their encoder states (`docexit.models.engine` runs them).

Padding when merging (where padding goes). The sequence is [text (T); visual CLS; patches], and
LayoutLMv3 numbers text positions 0..T-1 and visual positions 0..P from zero, so visual tokens'
positions do not depend on T. Two states with different text lengths are merged by padding the
*text part* of the shorter one up to the common T: zero hidden states and mask 0 are inserted
between its last text token and the visual CLS, and zero rows and columns are inserted at the
same place in its position bias. Every real token keeps its position ids, its bias values
(relative 1D and spatial 2D biases depend only on the two tokens involved) and its neighbours;
the inserted tokens are masked as keys, and no exit reads them (CLS is position 0, text/concat
exits average under the mask, the vision exit reads positions after T). The attention mask in
the attention implementation's layout is rebuilt for the merged batch exactly as `embed` builds
it. Length-sorted admission keeps the merged pages close in length, so little padding is added.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace

import torch
from transformers.masking_utils import create_bidirectional_mask

from docexit.models.model import EarlyExitModel, EncoderState
from docexit.models.policies import PolicyState

Key = Hashable


@dataclass
class Cohort:
    """Pages that have run the same encoder layers, in one batch, waiting for the next one."""

    keys: list[Key]  # (b,) original keys, in row order
    lengths: list[int]  # (b,) real text tokens per row (host copy: padding is never synced)
    state: EncoderState  # (b, S, H) after encoder layer state.layer
    policy_state: PolicyState  # b pages

    def __post_init__(self) -> None:
        assert len(self.keys) == len(self.lengths) == self.state.num_pages, (
            len(self.keys),
            len(self.lengths),
            self.state.num_pages,
        )
        assert len(self.policy_state) == self.state.num_pages
        assert max(self.lengths) <= self.state.text_len, (self.lengths, self.state.text_len)

    @property
    def size(self) -> int:
        return len(self.keys)

    def select(self, rows: Sequence[int]) -> Cohort:
        """The cohort of rows `rows`, in that order."""
        index = torch.tensor(rows, dtype=torch.long, device=self.state.hidden.device)  # (b',)
        return Cohort(
            keys=[self.keys[r] for r in rows],
            lengths=[self.lengths[r] for r in rows],
            state=self.state.select(index),
            policy_state=self.policy_state.select(index),
        )

    def split(self, n: int) -> tuple[Cohort, Cohort]:
        """The first `n` rows and the rest."""
        assert 0 < n < self.size, (n, self.size)
        return self.select(range(n)), self.select(range(n, self.size))


# ---- merging states of different text lengths ------------------------------------------------


def _insert_zeros(t: torch.Tensor, dim: int, at: int, n: int) -> torch.Tensor:
    """`t` with `n` zero slices inserted before index `at` of dimension `dim`."""
    shape = list(t.shape)
    shape[dim] = n
    head, tail = t.narrow(dim, 0, at), t.narrow(dim, at, t.shape[dim] - at)
    return torch.cat([head, t.new_zeros(shape), tail], dim=dim)


def pad_text(state: EncoderState, text_len: int) -> EncoderState:
    """The state with its text part padded to `text_len` tokens (module docstring): masked zero
    tokens inserted between the text and the visual CLS, zero rows/columns in the position bias.

    The result's `extended_mask` is None; `merge_states` rebuilds it for the merged batch.
    """
    t0 = state.text_len
    assert text_len >= t0, (text_len, t0)
    extra = text_len - t0
    hidden = _insert_zeros(state.hidden, 1, t0, extra)  # (B, S + extra, H)
    mask = _insert_zeros(state.attention_mask, 1, t0, extra)  # (B, S + extra)
    bias = state.position_bias
    if bias is not None:  # (B, heads, S, S) -> (B, heads, S + extra, S + extra)
        bias = _insert_zeros(_insert_zeros(bias, 2, t0, extra), 3, t0, extra)
    return replace(
        state,
        hidden=hidden,
        attention_mask=mask,
        extended_mask=None,
        position_bias=bias,
        text_len=text_len,
    )


def _rebuild_mask(model: EarlyExitModel, state: EncoderState) -> EncoderState:
    """The state with its attention mask rebuilt in the attention implementation's layout, as
    `EarlyExitModel.embed` builds it (None when nothing is padded)."""
    extended = create_bidirectional_mask(
        config=model.config.backbone,
        inputs_embeds=state.hidden,
        attention_mask=state.attention_mask,
    )
    return replace(state, extended_mask=extended)


def trim_text(model: EarlyExitModel, state: EncoderState, text_len: int) -> EncoderState:
    """The state with its text part cut to `text_len` tokens: the inverse of `pad_text`, for
    when the pages left in a batch are all shorter than its padded length. The caller
    guarantees that every row's real text tokens lie within the first `text_len` positions."""
    t0 = state.text_len
    assert 1 <= text_len <= t0, (text_len, t0)
    if text_len == t0:
        return state

    def cut(t: torch.Tensor, dim: int) -> torch.Tensor:
        tail = t.narrow(dim, t0, t.shape[dim] - t0)
        return torch.cat([t.narrow(dim, 0, text_len), tail], dim=dim)

    bias = state.position_bias
    if bias is not None:  # (B, heads, S, S) -> (B, heads, S', S')
        bias = cut(cut(bias, 2), 3)
    trimmed = replace(
        state,
        hidden=cut(state.hidden, 1),  # (B, S', H)
        attention_mask=cut(state.attention_mask, 1),  # (B, S')
        extended_mask=None,
        position_bias=bias,
        text_len=text_len,
    )
    return _rebuild_mask(model, trimmed)


def merge_states(model: EarlyExitModel, states: Sequence[EncoderState]) -> EncoderState:
    """One state with the pages of `states` (same depth) in order, text parts padded to the
    longest; the attention mask is rebuilt as `EarlyExitModel.embed` builds it."""
    assert states, "nothing to merge"
    if len(states) == 1:
        return states[0]
    layers = {s.layer for s in states}
    assert len(layers) == 1, f"states at different depths cannot share a layer step: {layers}"
    has_bias = {s.position_bias is not None for s in states}
    assert len(has_bias) == 1, "states of one model either all have a position bias or none"
    text_len = max(s.text_len for s in states)
    padded = [pad_text(s, text_len) for s in states]
    hidden = torch.cat([s.hidden for s in padded])  # (B, S, H)
    attention_mask = torch.cat([s.attention_mask for s in padded])  # (B, S)
    bias = None
    if padded[0].position_bias is not None:
        bias = torch.cat([s.position_bias for s in padded])  # (B, heads, S, S)
    merged = EncoderState(hidden, attention_mask, None, bias, text_len, layer=layers.pop())
    return _rebuild_mask(model, merged)


def merge_cohorts(model: EarlyExitModel, cohorts: Sequence[Cohort]) -> Cohort:
    """One cohort with the pages of `cohorts` (same depth), in order."""
    if len(cohorts) == 1:
        return cohorts[0]
    return Cohort(
        keys=[k for c in cohorts for k in c.keys],
        lengths=[n for c in cohorts for n in c.lengths],
        state=merge_states(model, [c.state for c in cohorts]),
        policy_state=PolicyState.concat([c.policy_state for c in cohorts]),
    )
