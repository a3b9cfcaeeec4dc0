"""`docexit run --policy/--threshold` -> the policy dict to run, and the threshold a page faced.

Each policy class parses its own ``--threshold`` (:meth:`ExitPolicy.from_threshold`); this
module only decides which class and falls back on the checkpoint's policy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from docexit.models.policies.base import (
    ScoreThreshold,
    policy_class,
    policy_from_dict,
    threshold_policy_names,
)

#: The policy `--threshold` alone builds when the checkpoint's policy has no single threshold.
DEFAULT_POLICY = "max_prob"


def resolve_policy(
    model_policy: Mapping[str, Any] | None,
    num_exits: int,
    name: str | None = None,
    threshold: str | float | None = None,
) -> dict[str, Any]:
    """The exit policy dict to run: the checkpoint's, unless `--policy`/`--threshold` override it.

    `name` may also be a JSON policy dict (as written by `ExitPolicy.to_dict()`). `threshold` is
    what the policy's `from_threshold` reads (a float for max_prob/entropy/margin, an int for
    patience, comma-separated floats for per_exit). With only `threshold`, the checkpoint's
    policy kind is kept when it has a single threshold, else `DEFAULT_POLICY` is used.
    """
    if name and name.lstrip().startswith("{"):
        if threshold is not None:
            raise ValueError("--threshold cannot be combined with a JSON --policy")
        return dict(json.loads(name))
    if name is None and threshold is None:
        if not model_policy:
            raise ValueError("the model has no exit policy; pass --policy and --threshold")
        return dict(model_policy)
    if name is None:
        current = (model_policy or {}).get("name")
        name = current if current in _single_threshold_names() else DEFAULT_POLICY
    if name not in threshold_policy_names():
        raise ValueError(
            f"unknown --policy {name!r}; choose one of {threshold_policy_names()} or JSON"
        )
    if threshold is None:
        if model_policy and model_policy.get("name") == name:
            return dict(model_policy)
        raise ValueError(f"--policy {name} needs --threshold")
    return policy_class(name).from_threshold(str(threshold), num_exits).to_dict()


def _single_threshold_names() -> set[str]:
    return {n for n in threshold_policy_names() if issubclass(policy_class(n), ScoreThreshold)}


def policy_threshold(policy: Mapping[str, Any], exit_index: int) -> float | None:
    """The threshold a page faced at `exit_index` under a policy dict (None: no threshold)."""
    return policy_from_dict(dict(policy)).threshold_at(exit_index)
