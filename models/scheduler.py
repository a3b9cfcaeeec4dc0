"""Scheduling rules of the batched early-exit engine (pure Python, no torch).

Two decisions are made here, both from plain counts so they can be tested on their own:

* **Which pages travel together** (:func:`cut_groups`): a window of pages is cut into admission
  groups. With length bucketing the window is sorted by token count first, so each group holds
  pages of similar length and is padded only to its own longest page. A group is as large as
  the step size allows, or, with a token budget, as many pages as fit in
  ``budget // (padded text length + visual tokens)``.
* **What runs next** (:func:`next_step`): given how many pages wait after each depth, either
  admit a new group (embed it: "layer 0"), advance the pages waiting at one depth through the
  next encoder layer, or stop.

The refill rule (continuous batching across depths):

1. if some depth has a full step's worth of pages waiting, advance the deepest such depth
   (finishing pages first keeps memory bounded and streams results out early);
2. else, if pages are still pending, admit a new group (its survivors join those at depth 0);
3. else (draining), advance the shallowest depth that has pages: its survivors join the pages
   at the next depth, so the last partial groups coalesce as they move down;
4. else stop.

Without refill (one group at a time, as :func:`docexit.models.reference_loop.classify` does) the rule
is: advance whatever is in flight until it is empty, then admit the next group.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

StepKind = Literal["admit", "advance", "done"]


@dataclass(frozen=True)
class Step:
    """The scheduler's choice: admit a group, advance the pages waiting at `depth`, or stop."""

    kind: StepKind
    depth: int | None = None  # for "advance": the encoder layers those pages have run

    def __post_init__(self) -> None:
        assert (self.kind == "advance") == (self.depth is not None), self


ADMIT = Step("admit")
DONE = Step("done")


@dataclass(frozen=True)
class Waiting:
    """Pages waiting after one depth, and how many of them one layer step may take."""

    pages: int
    capacity: int  # pages per step at these pages' padded length (>= 1)

    def __post_init__(self) -> None:
        assert self.pages >= 0 and self.capacity >= 1, self

    @property
    def full(self) -> bool:
        return self.pages >= self.capacity


def next_step(waiting: Mapping[int, Waiting], has_pending: bool, refill: bool) -> Step:
    """The next step under the refill rule (module docstring), or one group at a time."""
    occupied = sorted(d for d, w in waiting.items() if w.pages > 0)
    if not refill:
        assert len(occupied) <= 1, f"without refill one group is in flight, got depths {occupied}"
        if occupied:
            return Step("advance", occupied[0])
        return ADMIT if has_pending else DONE
    full = [d for d in occupied if waiting[d].full]
    if full:
        return Step("advance", max(full))
    if has_pending:
        return ADMIT
    if occupied:
        return Step("advance", occupied[0])
    return DONE


def padded_length(longest: int, multiple: int, limit: int) -> int:
    """Text length a group is padded to: `longest` rounded up to `multiple`, at most `limit`
    (never below `longest`)."""
    assert longest >= 1 and multiple >= 1, (longest, multiple)
    rounded = -(-longest // multiple) * multiple
    return max(longest, min(rounded, limit))


def capacity(step_size: int, token_budget: int | None, seq_len: int) -> int:
    """Pages per step: `step_size`, or with a token budget as many `seq_len`-token pages as fit
    (at least one, so a page longer than the budget still runs)."""
    assert step_size >= 1 and seq_len >= 1, (step_size, seq_len)
    if token_budget is None:
        return step_size
    return max(1, token_budget // seq_len)


def cut_groups(
    lengths: Sequence[int],
    fits: Callable[[int, int], bool],
    *,
    sort: bool,
    descending: bool = False,
) -> list[list[int]]:
    """Positions of `lengths` cut into consecutive groups.

    sort: order by length first (stable; `descending` reverses it), else keep arrival order.
    fits(pages, longest): whether a group of `pages` pages whose longest has `longest` tokens is
    allowed; a group grows while the next page still fits and always holds at least one page.
    """
    order = list(range(len(lengths)))
    if sort:
        order.sort(key=lambda i: lengths[i], reverse=descending)
    groups: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        candidate = max(longest, lengths[i])
        if current and not fits(len(current) + 1, candidate):
            groups.append(current)
            current, candidate = [], lengths[i]
        current.append(i)
        longest = candidate
    if current:
        groups.append(current)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    return groups
