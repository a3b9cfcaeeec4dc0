"""The reference loop: plain early-exit inference for one batch, the yardstick the engine's tests
compare against. Run layer by layer, let the policy decide per page at every exit, drop exited
pages from the batch so later layers only run on the rest. The product runs
`docexit.models.engine.EarlyExitEngine` (refill, bucketing); this is the simple version.

The policy is any object with `decide(exit_index, calibrated_logits (B, C), gate (B, 2) | None,
state) -> (exit_now BoolTensor (B,), state)` and `init_state(batch_size)` (models/policies/),
or a bare callable with that `decide` signature (its state starts as None). Per-page policy
state is compacted with the pages: tensors are indexed on dim 0, other objects use
`state.select(rows)` (policies.PolicyState), dicts/lists recursively, None stays None.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from docexit.models.calibration import top_label
from docexit.models.engine import Prediction
from docexit.models.model import EarlyExitModel
from docexit.models.policies import final_exit

if TYPE_CHECKING:
    from docexit.models.batch import ModelBatch

DecideFn = Callable[[int, torch.Tensor, torch.Tensor | None, Any], tuple[torch.Tensor, Any]]


def _policy_parts(policy: Any, batch_size: int, device: torch.device) -> tuple[DecideFn, Any]:
    if hasattr(policy, "decide") and hasattr(policy, "init_state"):
        takes_device = "device" in inspect.signature(policy.init_state).parameters
        state = (
            policy.init_state(batch_size, device=device)
            if takes_device
            else policy.init_state(batch_size)
        )
        return policy.decide, state
    if callable(policy):
        return policy, None
    raise TypeError("policy must have .decide and .init_state, or be a decide callable")


def _select_state(state: Any, rows: torch.Tensor) -> Any:
    """Keeps the policy state of pages `rows` (see module docstring)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):  # before .select: Tensor.select(dim, i) is not this
        return state.index_select(0, rows)
    if hasattr(state, "select"):
        return state.select(rows)
    if isinstance(state, dict):
        return {k: _select_state(v, rows) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_select_state(v, rows) for v in state)
    return state


@torch.no_grad()
def classify(
    model: EarlyExitModel, batch: ModelBatch, policy: Any, text: torch.Tensor | None = None
) -> list[Prediction]:
    """One Prediction per page of `batch`, in batch order; `text` (B, 2, C): the pages' text
    prior features, when the model has a prior. `model` must be in eval mode."""
    if model.training:
        raise ValueError("classify needs model.eval() (dropout would make exits random)")
    num_pages = int(batch.input_ids.shape[0])
    if num_pages == 0:
        return []
    temperatures = model.temperatures
    confidence_maps = model.confidence_maps
    last_exit = len(model.exits) - 1
    state = model.embed(batch)
    decide, policy_state = _policy_parts(policy, num_pages, state.hidden.device)
    pages = torch.arange(num_pages, device=state.hidden.device)  # (b,) batch row -> original page
    results: list[Prediction | None] = [None] * num_pages
    keep = pages  # rows still running after the latest exit

    for k in range(model.num_layers + 1):
        if k > 0:
            state = model.run_layer(k, state)
        for i in model.exits_at(k):
            out = model.exit_logits(i, state)
            logits = out.logits
            if model.text_prior is not None:
                assert text is not None, "the model pools its exits with a text prior"
                logits = model.text_prior.combine(i, logits, text.index_select(0, pages.cpu()))
            calibrated = logits.float() / temperatures[i]  # (b, C)
            exit_now, policy_state = decide(i, calibrated, out.gate, policy_state)
            assert exit_now.dtype == torch.bool and exit_now.shape == (state.num_pages,), exit_now
            exit_now = final_exit(exit_now, i, last_exit + 1)  # a bare callable may not apply it
            confidence, label = top_label(calibrated, confidence_maps[i])  # (b,), (b,)
            for row in exit_now.nonzero().squeeze(1).tolist():
                page = int(pages[row])
                assert results[page] is None, page
                results[page] = Prediction(int(label[row]), float(confidence[row]), i, k)
            keep = (~exit_now).nonzero().squeeze(1)  # (b',) rows still running
            if keep.numel() == 0:
                break
            if keep.numel() < state.num_pages:
                state = state.select(keep)
                pages = pages.index_select(0, keep)
                policy_state = _select_state(policy_state, keep)
        if keep.numel() == 0:
            break

    assert all(r is not None for r in results), "every page exits at the final classifier"
    return [r for r in results if r is not None]
