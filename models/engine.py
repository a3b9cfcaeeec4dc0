"""`EarlyExitEngine`: batched early-exit inference that turns exits into wall-clock savings.

The engine takes a pool of pages (`run(items)`, items are `(key, PageFeatures)`) and works
through it with its own step size, layer by layer, on the model's step API:

* **Shrinking.** After each exit the pages that exit leave the batch: hidden states, attention
  masks and relative/spatial position biases are index-selected (`EncoderState.select`), so
  the next layer runs only on the pages still going. Decisions are per page (the policy's
  `decide`), never per batch.
* **Refill (continuous batching across depths).** Pages that survive a step wait at their depth;
  pages waiting at the same depth, from different admission groups, are merged into one batch
  before the next layer, so each layer step runs a full batch. `docexit.models.scheduler`
  decides what runs next (deepest full depth first, else admit, else drain shallowest first).
  Results come back per page as soon as the page exits, in any order, with its key. A step
  takes the waiting cohorts shortest first, so pages of similar length share it.
* **Length bucketing.** A window of `pool_size` pages is sorted by token count and cut into
  groups padded to their own longest page (rounded up to `pad_multiple`), not to 512; with a
  `token_budget` a group holds as many pages as fit in the budget instead of a fixed count.
  When pages exit, the survivors' text part is trimmed to their own longest page (`trim_text`),
  so exited pages take their padding with them.

Padding when merging: `docexit.models.cohorts` (where the padding goes and why no page's
result changes).

Equivalence: shrinking, refill and bucketing change which pages share a batch and how much
padding they carry, never a page's own computation, so labels, confidences and exit layers match
a page-by-page run within float tolerance (tests/test_engine.py checks this).

Host synchronisation: one device-to-host copy per layer step that has exits (the step's packed
exit decisions, labels and confidences); layers without exits and the full-depth modes do not
synchronise per layer (`EarlyExitModel.embed` also range-checks its inputs: a few syncs per
admitted group, never per page). On CUDA every step runs under bf16 autocast.

Modes (`mode=`), for the benchmark's comparisons; all return the same kind of results:

  full_padded     full depth, final classifier only, every page padded to max_text_tokens
  full_bucketed   full depth, final classifier only, length-bucketed groups
  batch_exit      early exit decided per page, but a batch runs until all its pages have exited
  shrink          early exit, exited pages leave the batch; one arrival-order group at a time
  shrink_refill   shrinking + refill + length bucketing (the default)

The non-bucketed modes take pages in arrival order and pad each group to its longest page
(`collate`'s default), except `full_padded`, which pads to the model's `max_text_tokens`.
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import count, islice

import numpy as np
import torch

from docexit.models.batch import collate
from docexit.models.calibration import top_label
from docexit.models.cohorts import Cohort, Key, merge_cohorts, trim_text
from docexit.models.model import EarlyExitModel, EncoderState
from docexit.models.policies import ExitPolicy, PolicyState, policy_from_dict
from docexit.models.scheduler import Waiting, capacity, cut_groups, next_step, padded_length
from docexit.transforms.records import PageFeatures


@dataclass(frozen=True)
class Prediction:
    """Where and how one page left the model."""

    label_id: int
    confidence: float  # calibrated: max softmax(logits / T_exit)
    exit_index: int  # index into model.exits (the last one is the final classifier)
    exit_layer: int  # encoder layers run for this page (0 = modality exit before the encoder)


Result = tuple[Key, Prediction]


@dataclass(frozen=True)
class ModeSpec:
    """How a mode batches pages and where it stops them."""

    bucket: bool  # sort each window by token count; pad groups to their own longest page
    pad_to_max: bool  # pad every page to model.config.max_text_tokens (the paper's setting)
    exits: str  # "none": final classifier only; "batch": batch-level exit; "page": shrinking
    refill: bool  # merge pages waiting at the same depth across groups


MODES: dict[str, ModeSpec] = {
    "full_padded": ModeSpec(bucket=False, pad_to_max=True, exits="none", refill=False),
    "full_bucketed": ModeSpec(bucket=True, pad_to_max=False, exits="none", refill=False),
    "batch_exit": ModeSpec(bucket=False, pad_to_max=False, exits="batch", refill=False),
    "shrink": ModeSpec(bucket=False, pad_to_max=False, exits="page", refill=False),
    "shrink_refill": ModeSpec(bucket=True, pad_to_max=False, exits="page", refill=True),
}


@dataclass
class EngineStats:
    """Counters of the latest `run` (reset at its start)."""

    groups: int = 0  # admission groups embedded
    layer_steps: int = 0  # encoder layer steps run
    page_layers: int = 0  # sum over layer steps of the pages in the step
    layer_tokens: int = 0  # sum over layer steps of pages x padded sequence length
    syncs: int = 0  # device-to-host copies of exit decisions
    text_tokens: int = 0  # real text tokens admitted
    padded_text_tokens: int = 0  # text tokens admitted after padding

    @property
    def mean_step_pages(self) -> float:
        """Average pages per encoder layer step (how full the steps were)."""
        return self.page_layers / self.layer_steps if self.layer_steps else 0.0


@dataclass(frozen=True)
class _Group:
    """Pages admitted together: keys, features and the text length they are padded to."""

    keys: list[Key]
    features: list[PageFeatures]
    pad_to: int


# ---- the engine ------------------------------------------------------------------------------


@dataclass
class _ExitRecord:
    """Per-row exit bookkeeping on the device: first exit taken, its label and confidence."""

    exit_index: torch.Tensor  # (B,) long, -1 = still running
    label: torch.Tensor  # (B,) long
    confidence: torch.Tensor  # (B,) float32, calibrated max softmax

    @classmethod
    def empty(cls, num_pages: int, device: torch.device) -> _ExitRecord:
        return cls(
            exit_index=torch.full((num_pages,), -1, dtype=torch.long, device=device),
            label=torch.zeros(num_pages, dtype=torch.long, device=device),
            confidence=torch.zeros(num_pages, dtype=torch.float32, device=device),
        )

    def to_host(self) -> list[tuple[int, int, float]]:
        """(exit index, label, confidence) per row: the step's single device-to-host copy."""
        packed = torch.stack(
            [self.exit_index.float(), self.label.float(), self.confidence.float()], dim=1
        ).cpu()  # (B, 3); exit indices and labels are exact in float32
        return [(int(e), int(label), c) for e, label, c in packed.tolist()]


@dataclass
class EarlyExitEngine:
    """Batched early-exit inference over a pool of pages (module docstring).

    model: an `EarlyExitModel` in eval mode (moved to `device` if one is given).
    policy: an `ExitPolicy` (its `decide` lets every page out at the final classifier); None
        takes the one saved in `model.config.policy`.
    step_size: pages per layer step (ignored when `token_budget` is set).
    token_budget: padded tokens (text + visual) per step instead of a fixed page count.
    device: where to run; None = where the model is. CUDA runs under bf16 autocast.
    mode: one of MODES (benchmark comparisons); "shrink_refill" is the engine proper.
    pool_size: pages read from `items` at a time and bucketed together.
    pad_multiple: bucketed groups are padded to a multiple of this many text tokens.
    merge_slack: a refill step merges another waiting cohort only while the merge pads the
        step by at most this fraction of the tokens its cohorts carry on their own (`inf`:
        fill every step whatever the padding). Deep cohorts gather survivors of many admission
        groups; merging a short one with a long one pads the short one's rows to the long
        length. On CPU that costs more than a smaller step (cost follows tokens), so None
        means 0 there; on CUDA a step is launch-bound and fuller steps pay, so None means inf.
    autocast: bf16 autocast on CUDA; None = on for CUDA, off elsewhere.
    """

    model: EarlyExitModel
    policy: ExitPolicy | None = None
    step_size: int = 32
    token_budget: int | None = None
    device: torch.device | str | None = None
    mode: str = "shrink_refill"
    pool_size: int = 1024
    pad_multiple: int = 8
    merge_slack: float | None = None
    autocast: bool | None = None
    stats: EngineStats = field(default_factory=EngineStats, init=False)

    def __post_init__(self) -> None:
        if self.model.training:
            raise ValueError("the engine needs model.eval() (dropout would make exits random)")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {sorted(MODES)}, got {self.mode!r}")
        if self.step_size < 1 or self.pool_size < 1 or self.pad_multiple < 1:
            raise ValueError("step_size, pool_size and pad_multiple must be >= 1")
        if self.token_budget is not None and self.token_budget < 1:
            raise ValueError(f"token_budget must be >= 1, got {self.token_budget}")
        if self.policy is None:
            if not self.model.config.policy:
                raise ValueError("no policy given and none saved in the model's config")
            self.policy = policy_from_dict(self.model.config.policy)
        if self.policy.num_exits != len(self.model.exits):
            raise ValueError(
                f"policy has {self.policy.num_exits} exits, the model {len(self.model.exits)}"
            )
        if self.device is not None:
            self.model.to(self.device)
        self.device = next(self.model.parameters()).device
        if self.autocast is None:
            self.autocast = self.device.type == "cuda"
        backbone = self.model.config.backbone
        self.visual_tokens = 1 + (backbone.input_size // backbone.patch_size) ** 2
        self.max_text_tokens = int(self.model.config.max_text_tokens)
        self.spec = MODES[self.mode]
        if self.merge_slack is None:
            self.merge_slack = 0.0 if self.device.type == "cpu" else math.inf
        if self.merge_slack < 0:
            raise ValueError(f"merge_slack must be >= 0, got {self.merge_slack}")
        self._temperatures = self.model.temperatures
        self._confidence_maps = self.model.confidence_maps
        self._last_exit = len(self.model.exits) - 1
        self._page_text: dict[Key, np.ndarray] = {}  # (2, C) per waiting page, with a prior

    # ---- public API --------------------------------------------------------------------------

    def run(self, items: Iterable[tuple[Key, PageFeatures]]) -> Iterator[Result]:
        """`(key, Prediction)` for every page of `items`, each as soon as the page exits."""
        self.stats = EngineStats()
        self._page_text.clear()
        for key, prediction in self._run_modes(self._groups(items)):
            self._page_text.pop(key, None)
            yield key, prediction

    def _run_modes(self, groups: Iterator[_Group]) -> Iterator[Result]:
        if self.spec.exits == "page":
            yield from self._run_cohorts(groups, refill=self.spec.refill)
            return
        for group in groups:
            with self.compute():
                results = (
                    self._run_full(group) if self.spec.exits == "none" else self._batch_exit(group)
                )
            yield from results

    def classify(self, items: Iterable[tuple[Key, PageFeatures]]) -> dict[Key, Prediction]:
        """Every page's prediction, by key (a convenience around `run`)."""
        results: dict[Key, Prediction] = {}
        for key, prediction in self.run(items):
            assert key not in results, f"duplicate key {key!r}"
            results[key] = prediction
        return results

    # ---- admission groups ----------------------------------------------------------------------

    def _pad_length(self, longest: int) -> int:
        if self.spec.pad_to_max:
            return self.max_text_tokens
        if self.spec.bucket:
            return padded_length(longest, self.pad_multiple, self.max_text_tokens)
        return longest

    def _capacity(self, text_len: int) -> int:
        return capacity(self.step_size, self.token_budget, text_len + self.visual_tokens)

    def _fits(self, pages: int, longest: int) -> bool:
        return pages <= self._capacity(self._pad_length(longest))

    def _groups(self, items: Iterable[tuple[Key, PageFeatures]]) -> Iterator[_Group]:
        """Admission groups, read lazily `pool_size` pages at a time. Bucketed windows are sorted
        ascending and descending in turn, so pages at a window boundary are close in length."""
        iterator = iter(items)
        for window_index in count():
            window = list(islice(iterator, self.pool_size))
            if not window:
                return
            lengths = [features.num_tokens for _, features in window]
            for (key, features), n in zip(window, lengths, strict=True):
                if not 1 <= n <= self.max_text_tokens:
                    raise ValueError(
                        f"page {key!r} has {n} tokens; the model takes 1..{self.max_text_tokens}"
                    )
                if self.model.text_prior is not None:
                    if features.text is None:
                        raise ValueError(
                            f"page {key!r} has no text prior features; the model pools its "
                            "exits with one (featurize with the model's folder)"
                        )
                    self._page_text[key] = features.text
            for rows in cut_groups(
                lengths,
                self._fits,
                sort=self.spec.bucket,
                descending=self.spec.bucket and window_index % 2 == 1,
            ):
                longest = max(lengths[r] for r in rows)
                yield _Group(
                    keys=[window[r][0] for r in rows],
                    features=[window[r][1] for r in rows],
                    pad_to=self._pad_length(longest),
                )

    # ---- steps -------------------------------------------------------------------------------

    def compute(self) -> contextlib.ExitStack:
        """Context for one step's tensor work: inference mode, and bf16 autocast on CUDA.

        Entered per step, never across a `yield`, so callers never run inside it."""
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        if self.autocast:
            stack.enter_context(torch.autocast(self.device.type, dtype=torch.bfloat16))
        return stack

    def _embed(self, group: _Group) -> EncoderState:
        batch = collate(group.features, pad_to=group.pad_to).to(self.device)
        self.stats.groups += 1
        self.stats.text_tokens += sum(f.num_tokens for f in group.features)
        self.stats.padded_text_tokens += group.pad_to * len(group.features)
        return self.model.embed(batch)

    def _run_layer(self, k: int, state: EncoderState) -> EncoderState:
        self.stats.layer_steps += 1
        self.stats.page_layers += state.num_pages
        self.stats.layer_tokens += state.num_pages * int(state.hidden.shape[1])
        return self.model.run_layer(k, state)

    def _calibrated(self, i: int, logits: torch.Tensor, keys: Sequence[Key]) -> torch.Tensor:
        """(B, C) exit `i`'s logits of the pages `keys`, pooled with their text prior (if the
        model has one) and divided by the exit's temperature."""
        prior = self.model.text_prior
        if prior is not None:
            text = np.stack([self._page_text[k] for k in keys])  # (B, 2, C)
            logits = prior.combine(i, logits, torch.from_numpy(text))
        return logits.float() / self._temperatures[i]

    def _evaluate_exits(
        self,
        state: EncoderState,
        policy_state: PolicyState,
        record: _ExitRecord,
        keys: Sequence[Key],
    ) -> PolicyState:
        """Runs the exits at the state's depth on every row and records each row's first exit
        in `record` (on the device, no synchronisation). Rows that exit at an earlier exit of
        the same depth still pass through the later ones; their decisions there are ignored
        (decisions and policy state are per page, so no other page is affected)."""
        for i in self.model.exits_at(state.layer):
            out = self.model.exit_logits(i, state)
            calibrated = self._calibrated(i, out.logits, keys)  # (B, C)
            exit_now, policy_state = self.policy.decide(i, calibrated, out.gate, policy_state)
            assert exit_now.dtype == torch.bool and exit_now.shape == (state.num_pages,)
            confidence, label = top_label(calibrated, self._confidence_maps[i])  # (B,), (B,)
            new = exit_now & (record.exit_index < 0)  # (B,)
            record.exit_index = torch.where(new, i, record.exit_index)
            record.label = torch.where(new, label, record.label)
            record.confidence = torch.where(new, confidence, record.confidence)
        return policy_state

    def _exit_step(self, cohort: Cohort) -> tuple[Cohort | None, list[Result]]:
        """Exits at the cohort's depth: results of the pages that exit, and the rest (or None)."""
        state = cohort.state
        if not self.model.exits_at(state.layer):
            return cohort, []
        record = _ExitRecord.empty(state.num_pages, self.device)
        policy_state = self._evaluate_exits(state, cohort.policy_state, record, cohort.keys)
        self.stats.syncs += 1
        results: list[Result] = []
        keep: list[int] = []
        for row, (exit_index, label, confidence) in enumerate(record.to_host()):
            if exit_index < 0:
                keep.append(row)
            else:
                prediction = Prediction(label, confidence, exit_index, state.layer)
                results.append((cohort.keys[row], prediction))
        cohort = replace(cohort, policy_state=policy_state)
        if not keep:
            return None, results
        if len(keep) < cohort.size:
            cohort = cohort.select(keep)
            if self.spec.bucket:  # the pages that left take their padding with them
                cohort = self._trimmed(cohort)
        return cohort, results

    def _trimmed(self, cohort: Cohort) -> Cohort:
        """The cohort with its text part cut to its longest page (rounded to pad_multiple)."""
        text_len = padded_length(max(cohort.lengths), self.pad_multiple, self.max_text_tokens)
        if text_len >= cohort.state.text_len:
            return cohort
        return replace(cohort, state=trim_text(self.model, cohort.state, text_len))

    # ---- modes -------------------------------------------------------------------------------

    def _run_full(self, group: _Group) -> list[Result]:
        """Full depth, final classifier only (no other exit head runs)."""
        state = self._embed(group)
        for k in range(1, self.model.num_layers + 1):
            state = self._run_layer(k, state)
        record = _ExitRecord.empty(state.num_pages, self.device)
        logits = self.model.exit_logits(self._last_exit, state).logits  # (B, C)
        calibrated = self._calibrated(self._last_exit, logits, group.keys)
        record.confidence, record.label = top_label(
            calibrated, self._confidence_maps[self._last_exit]
        )  # (B,), (B,)
        record.exit_index.fill_(self._last_exit)
        self.stats.syncs += 1
        return [
            (key, Prediction(label, confidence, exit_index, self.model.num_layers))
            for key, (exit_index, label, confidence) in zip(
                group.keys, record.to_host(), strict=True
            )
        ]

    def _batch_exit(self, group: _Group) -> list[Result]:
        """Per-page exit decisions, but every page runs until the whole batch has exited."""
        state = self._embed(group)
        policy_state = self.policy.init_state(state.num_pages, device=self.device)
        record = _ExitRecord.empty(state.num_pages, self.device)
        rows: list[tuple[int, int, float]] = []
        for k in range(self.model.num_layers + 1):
            if k > 0:
                state = self._run_layer(k, state)
            if not self.model.exits_at(k):
                continue
            policy_state = self._evaluate_exits(state, policy_state, record, group.keys)
            self.stats.syncs += 1
            rows = record.to_host()
            if all(exit_index >= 0 for exit_index, _, _ in rows):
                break
        layers = self.model.exit_layers
        return [
            (key, Prediction(label, confidence, exit_index, layers[exit_index]))
            for key, (exit_index, label, confidence) in zip(group.keys, rows, strict=True)
        ]

    def _run_cohorts(self, groups: Iterator[_Group], refill: bool) -> Iterator[Result]:
        """Shrinking, with or without refill, under `scheduler.next_step`."""
        waiting: dict[int, deque[Cohort]] = {d: deque() for d in range(self.model.num_layers)}
        upcoming = next(groups, None)
        while True:
            step = next_step(self._waiting(waiting), upcoming is not None, refill)
            if step.kind == "done":
                break
            with self.compute():
                if step.kind == "admit":
                    assert upcoming is not None
                    cohort = Cohort(
                        keys=upcoming.keys,
                        lengths=[f.num_tokens for f in upcoming.features],
                        state=self._embed(upcoming),
                        policy_state=self.policy.init_state(len(upcoming.keys), device=self.device),
                    )
                else:
                    depth = step.depth
                    assert depth is not None
                    cohort = self._take(waiting[depth], whole=not refill)
                    cohort = replace(cohort, state=self._run_layer(depth + 1, cohort.state))
                survivors, results = self._exit_step(cohort)
            if step.kind == "admit":
                upcoming = next(groups, None)  # reads more pages only when they are needed
            if survivors is not None:
                assert survivors.state.layer < self.model.num_layers, "the last exit takes all"
                waiting[survivors.state.layer].append(survivors)
            yield from results
        assert not any(waiting.values()), "every admitted page exits"

    def _waiting(self, waiting: dict[int, deque[Cohort]]) -> dict[int, Waiting]:
        summary = {}
        for depth, queue in waiting.items():
            if queue:
                longest = max(c.state.text_len for c in queue)
                summary[depth] = Waiting(sum(c.size for c in queue), self._capacity(longest))
        return summary

    def _take(self, queue: deque[Cohort], whole: bool) -> Cohort:
        """Pages for one layer step from the cohorts waiting at one depth: all of them (`whole`),
        or, shortest cohorts first, as many as the step's capacity at the merged text length
        allows (so a step pads little; longer ones wait for their peers or the final drain)."""
        if not whole:
            by_length = sorted(queue, key=lambda c: c.state.text_len)  # stable
            queue.clear()
            queue.extend(by_length)
        taken: list[Cohort] = []
        pages = text_len = own_tokens = 0
        while queue:
            head = queue[0]
            longer = max(text_len, head.state.text_len)
            room = len(head.keys) if whole else self._capacity(longer) - pages
            if room <= 0:
                break
            if taken and not whole and self._pads_too_much(pages, own_tokens, head, room, longer):
                break
            if head.size <= room:
                taken.append(queue.popleft())
            else:
                first, rest = head.split(room)
                queue[0] = rest
                taken.append(first)
            pages += taken[-1].size
            own_tokens += taken[-1].size * (taken[-1].state.text_len + self.visual_tokens)
            text_len = longer
            if pages >= self._capacity(text_len) and not whole:
                break
        assert taken, "a depth with waiting pages always yields a step"
        return merge_cohorts(self.model, taken)

    def _pads_too_much(
        self, pages: int, own_tokens: int, head: Cohort, room: int, text_len: int
    ) -> bool:
        """Whether adding `head`'s first `room` rows to a step of `pages` pages that carry
        `own_tokens` tokens on their own would pad the merged step (every row padded to
        `text_len`) by more than `merge_slack` of those tokens."""
        rows = pages + min(room, head.size)
        own = own_tokens + min(room, head.size) * (head.state.text_len + self.visual_tokens)
        return rows * (text_len + self.visual_tokens) > (1.0 + self.merge_slack) * own
