"""EarlyExitEngine: scheduler rules, text-part padding and merging, and equivalence of every
mode (shrinking, refill, bucketing, token budget) with a page-by-page reference run.

Tiny random models (hidden 32, 4 layers, 4 heads) with relative + spatial attention bias, two
modality exits at layer 0, exits after layers 1-3 and the final classifier. Exit thresholds
are put in wide gaps of the pages' own confidences, so pages exit at different depths and
float noise from padding cannot flip a decision.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from docexit.models.backbone import backbone_config
from docexit.models.batch import collate
from docexit.models.cohorts import merge_states, pad_text, trim_text
from docexit.models.config import EarlyExitConfig
from docexit.models.engine import MODES, EarlyExitEngine, Prediction
from docexit.models.model import EarlyExitModel
from docexit.models.policies import ExitPolicy, Patience, PerExitThresholds
from docexit.models.reference_loop import classify
from docexit.models.scheduler import (
    ADMIT,
    DONE,
    Step,
    Waiting,
    capacity,
    cut_groups,
    next_step,
    padded_length,
)
from docexit.transforms.records import PageFeatures

VOCAB = 120
MAX_TEXT = 48
EXITS = [
    {"layer": 0, "source": "text", "head": "ramp"},
    {"layer": 0, "source": "vision", "head": "ramp"},
    {"layer": 1, "source": "cls", "head": "ramp"},
    {"layer": 2, "source": "cls", "head": "gate"},
    {"layer": 3, "source": "cls", "head": "ramp"},
]
ATOL = 1e-4


def tiny_model(bias: bool = True, seed: int = 0, vocab: int = VOCAB) -> EarlyExitModel:
    torch.manual_seed(seed)
    backbone = backbone_config(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=64,
        has_relative_attention_bias=bias,
        has_spatial_attention_bias=bias,
    )
    config = EarlyExitConfig(
        backbone=backbone.to_dict(),
        exits=EXITS,
        label_names=[f"c{i}" for i in range(5)],
        max_text_tokens=MAX_TEXT,
        temperatures=[1.0, 1.3, 0.8, 1.0, 1.2, 1.0],
    )
    model = EarlyExitModel(config).eval()
    with torch.no_grad():  # LayoutLMv3 starts these at zero; make pages differ visually
        model.backbone.cls_token.normal_(std=0.5)
        model.backbone.pos_embed.normal_(std=0.5)
        for head in model.exits.modules():  # confident heads: confidences spread over (0.2, 1)
            if isinstance(head, torch.nn.Linear):
                head.weight.normal_(std=1.0)
    return model


def make_pages(n: int, seed: int = 0) -> list[PageFeatures]:
    """Pages of 3..MAX_TEXT tokens, [CLS]/[SEP]-like ids, random boxes and images."""
    rng = np.random.default_rng(seed)
    pages = []
    for _ in range(n):
        t = int(rng.integers(3, MAX_TEXT + 1))
        ids = rng.integers(3, VOCAB, size=t)
        xy = rng.integers(0, 900, size=(t, 2))
        wh = rng.integers(1, 100, size=(t, 2))
        pixels = rng.standard_normal((3, 224, 224)).astype(np.float32)
        pages.append(PageFeatures(ids.astype(np.int64), np.concatenate([xy, xy + wh], 1), pixels))
    return pages


def split_threshold(values: torch.Tensor, lo: float = 0.25, hi: float = 0.75) -> float:
    """Midpoint of the widest gap between sorted `values` in their [lo, hi] quantile range."""
    v = values.sort().values
    a, b = int(lo * (len(v) - 1)), int(hi * (len(v) - 1))
    gaps = v[a + 1 : b + 1] - v[a:b]
    i = int(gaps.argmax())
    assert gaps[i] > 10 * ATOL, "no gap wide enough to make decisions robust"
    return float((v[a + i] + v[a + i + 1]) / 2)


def gap_policy(model: EarlyExitModel, pages: list[PageFeatures]) -> PerExitThresholds:
    """Per-exit max-prob thresholds (gate prob at the gate exit) inside gaps of the pages'
    page-alone confidences, so that some pages exit at every depth."""
    from docexit.models.policies import exit_confidence

    with torch.no_grad():
        outs = [model(collate([p])) for p in pages]
    thresholds = []
    for e, t in enumerate(model.temperatures[:-1]):
        scores = torch.cat(
            [
                exit_confidence(
                    o.logits[e] / t,
                    None if o.gate_logits is None or not model.has_gate[e] else o.gate_logits[e],
                )
                for o in outs
            ]
        )
        thresholds.append(split_threshold(scores, 0.5, 0.95))
    return PerExitThresholds(tuple(thresholds) + (1.0,))


def reference(
    model: EarlyExitModel, pages: list[PageFeatures], policy: ExitPolicy
) -> list[Prediction]:
    """Page-by-page early exit (batch of one, no padding)."""
    return [classify(model, collate([p]), policy)[0] for p in pages]


def assert_same(got: dict[int, Prediction], want: list[Prediction], min_depths: int = 3) -> None:
    """Same label, exit and exit layer per key, confidence within ATOL; and the reference's
    pages exit at `min_depths` different depths at least (so the comparison means something)."""
    assert sorted(got) == list(range(len(want)))
    for key, w in enumerate(want):
        g = got[key]
        assert (g.label_id, g.exit_index, g.exit_layer) == (
            w.label_id,
            w.exit_index,
            w.exit_layer,
        ), (
            key,
            g,
            w,
        )
        assert g.confidence == pytest.approx(w.confidence, abs=ATOL), (key, g, w)
    assert len({w.exit_layer for w in want}) >= min_depths, "pages must exit at different depths"


@pytest.fixture(scope="module")
def setup() -> tuple[EarlyExitModel, list[PageFeatures], ExitPolicy, list[Prediction]]:
    model = tiny_model()
    pages = make_pages(40)
    policy = gap_policy(model, pages)
    return model, pages, policy, reference(model, pages, policy)


# ---- scheduler --------------------------------------------------------------------------------


def test_next_step_refill_rule():
    w = Waiting
    assert next_step({}, has_pending=True, refill=True) == ADMIT
    assert next_step({}, has_pending=False, refill=True) == DONE
    # a full depth goes first, the deepest full one
    waiting = {0: w(40, 32), 2: w(33, 32), 3: w(5, 32)}
    assert next_step(waiting, True, True) == Step("advance", 2)
    # nothing full: admit while pages are pending, else drain from the shallowest depth
    waiting = {1: w(5, 32), 3: w(7, 32)}
    assert next_step(waiting, True, True) == ADMIT
    assert next_step(waiting, False, True) == Step("advance", 1)
    assert next_step({1: w(0, 32)}, False, True) == DONE
    # without refill: finish the group in flight, then admit
    assert next_step({2: w(3, 32)}, True, False) == Step("advance", 2)
    assert next_step({}, True, False) == ADMIT
    with pytest.raises(AssertionError):
        next_step({1: w(1, 4), 2: w(1, 4)}, True, False)


def test_groups_padding_and_capacity():
    assert padded_length(13, 8, 512) == 16
    assert padded_length(509, 8, 512) == 512
    assert padded_length(512, 8, 511) == 512  # never below the longest page
    assert capacity(32, None, 700) == 32
    assert capacity(32, 7000, 700) == 10
    assert capacity(32, 100, 700) == 1
    lengths = [30, 5, 20, 10, 25]

    def two(pages: int, longest: int) -> bool:
        return pages <= 2

    assert cut_groups(lengths, two, sort=False) == [[0, 1], [2, 3], [4]]
    assert cut_groups(lengths, two, sort=True) == [[1, 3], [2, 4], [0]]
    assert cut_groups(lengths, two, sort=True, descending=True) == [[0, 4], [2, 3], [1]]

    def budget(pages: int, longest: int) -> bool:  # 60 tokens per group
        return pages * longest <= 60

    assert cut_groups(lengths, budget, sort=True) == [[1, 3, 2], [4, 0]]


# ---- padding and merging ------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
def test_padded_and_merged_states_give_the_same_pages(bias):
    model = tiny_model(bias=bias)
    pages = make_pages(3, seed=3)
    with torch.inference_mode():
        alone = [model.embed(collate([p])) for p in pages]
        padded = pad_text(alone[0], alone[0].text_len + 5)
        assert padded.hidden.shape[1] == alone[0].hidden.shape[1] + 5
        assert padded.attention_mask[0, alone[0].text_len : alone[0].text_len + 5].sum() == 0
        back = trim_text(model, padded, alone[0].text_len)  # the inverse of pad_text
        torch.testing.assert_close(back.hidden, alone[0].hidden, atol=0, rtol=0)
        if bias:
            torch.testing.assert_close(back.position_bias, alone[0].position_bias, atol=0, rtol=0)
        assert back.extended_mask is None  # one page, nothing padded
        merged = merge_states(model, alone)
        assert merged.text_len == max(s.text_len for s in alone)
        assert merged.extended_mask is not None  # shorter pages carry padding now
        states = [*alone, merged]
        for k in range(1, model.num_layers + 1):
            states = [model.run_layer(k, s) for s in states]
            for i in model.exits_at(k):
                want = torch.cat([model.exit_logits(i, s).logits for s in states[:-1]])
                got = model.exit_logits(i, states[-1]).logits
                torch.testing.assert_close(got, want, atol=ATOL, rtol=1e-4)
        t = merged.text_len
        for row, s in enumerate(states[:-1]):  # visual tokens stay aligned after the text part
            torch.testing.assert_close(
                states[-1].hidden[row, t:], s.hidden[0, s.text_len :], atol=ATOL, rtol=1e-4
            )


def test_merging_states_at_different_depths_is_refused():
    model = tiny_model()
    with torch.inference_mode():
        a = model.embed(collate(make_pages(1)))
        b = model.run_layer(1, a)
        with pytest.raises(AssertionError, match="different depths"):
            merge_states(model, [a, b])


# ---- equivalence with the page-by-page reference ----------------------------------------------


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("step_size", [1, 4, 16])
def test_every_mode_matches_page_by_page(setup, mode, step_size):
    model, pages, policy, want = setup
    engine = EarlyExitEngine(model, policy, step_size=step_size, mode=mode, pool_size=24)
    got = engine.classify(enumerate(pages))
    full = MODES[mode].exits == "none"
    if full:
        last = len(model.exits) - 1
        with torch.no_grad():
            logits = [model(collate([p])).logits[-1, 0] / model.temperatures[-1] for p in pages]
        want = [
            Prediction(int(lg.argmax()), float(lg.softmax(-1).max()), last, model.num_layers)
            for lg in logits
        ]
    assert_same(got, want, min_depths=1 if full else 3)


@pytest.mark.parametrize("merge_slack", [0.0, 0.5, math.inf])
def test_refill_matches_page_by_page_at_any_merge_slack(setup, merge_slack):
    model, pages, policy, want = setup
    engine = EarlyExitEngine(model, policy, step_size=8, pool_size=24, merge_slack=merge_slack)
    assert_same(engine.classify(enumerate(pages)), want, min_depths=3)


@pytest.mark.parametrize("budget", [300, 1200, 5000])
def test_token_budget_matches_and_is_respected(setup, budget):
    model, pages, policy, want = setup
    engine = EarlyExitEngine(model, policy, token_budget=budget, pool_size=40)
    assert_same(
        engine.classify(enumerate(pages)),
        want,
    )
    seq = MAX_TEXT + engine.visual_tokens
    assert engine.stats.layer_steps > 0
    assert engine.stats.mean_step_pages <= max(1, budget // (engine.visual_tokens + 3))
    assert engine.stats.mean_step_pages >= min(1, budget // seq)


def test_stateful_policy_survives_refill(setup):
    model, pages, _, _ = setup
    policy = Patience(patience=2, num_exits=len(model.exits))
    want = reference(model, pages, policy)
    assert len({w.exit_layer for w in want}) >= 2
    engine = EarlyExitEngine(model, policy, step_size=6, pool_size=16)
    assert_same(engine.classify(enumerate(pages)), want, min_depths=2)


@pytest.mark.parametrize("mode", ["shrink_refill", "full_bucketed"])
def test_confidence_maps_change_only_the_reported_confidence(setup, mode):
    model, pages, policy, want = setup
    mapped = copy.deepcopy(model)
    mapped.config.confidence_maps = [[2.0, -0.5]] * len(model.exits)
    engine = EarlyExitEngine(mapped, policy, step_size=8, mode=mode, pool_size=24)
    got = engine.classify(enumerate(pages))
    plain = EarlyExitEngine(model, policy, step_size=8, mode=mode, pool_size=24)
    base = plain.classify(enumerate(pages))
    assert len({p.exit_layer for p in base.values()}) >= (1 if mode == "full_bucketed" else 3)
    for key, b in base.items():
        g = got[key]
        assert (g.label_id, g.exit_index, g.exit_layer) == (b.label_id, b.exit_index, b.exit_layer)
        z = math.log(b.confidence / (1 - b.confidence))
        assert g.confidence == pytest.approx(1 / (1 + math.exp(-(2.0 * z - 0.5))), abs=ATOL)
    if mode == "shrink_refill":  # the page-by-page path reports the same mapped confidences
        for key, r in enumerate(reference(mapped, pages, policy)):
            assert r.confidence == pytest.approx(got[key].confidence, abs=ATOL)


def test_model_without_position_bias(setup):
    model = tiny_model(bias=False, seed=3)
    pages = make_pages(24, seed=5)
    policy = gap_policy(model, pages)
    want = reference(model, pages, policy)
    engine = EarlyExitEngine(model, policy, step_size=5, pool_size=12)
    assert_same(
        engine.classify(enumerate(pages)),
        want,
    )


def test_refill_fills_layer_steps_and_bucketing_cuts_padding(setup):
    model, pages, policy, _ = setup
    stats = {}
    for mode in ("shrink", "shrink_refill", "full_padded", "full_bucketed"):
        slack = math.inf if mode == "shrink_refill" else None  # inf: fill steps whatever pads
        engine = EarlyExitEngine(
            model, policy, step_size=8, mode=mode, pool_size=40, merge_slack=slack
        )
        engine.classify(enumerate(pages))
        stats[mode] = engine.stats
    assert stats["shrink_refill"].mean_step_pages > stats["shrink"].mean_step_pages
    assert stats["shrink_refill"].page_layers == stats["shrink"].page_layers  # same work
    assert stats["full_padded"].padded_text_tokens == MAX_TEXT * len(pages)
    bucketed = stats["full_bucketed"]
    assert bucketed.text_tokens <= bucketed.padded_text_tokens < 0.8 * MAX_TEXT * len(pages)
    # one host synchronisation per step (every depth of this model has an exit), never per page
    refill = stats["shrink_refill"]
    assert refill.syncs == refill.groups + refill.layer_steps
    assert stats["full_bucketed"].syncs == stats["full_bucketed"].groups  # one per group


def test_merge_slack_trades_step_size_for_less_padding(setup):
    """Without a limit refill merges short and long cohorts (the short rows are padded); with
    slack 0 a step merges only cohorts of one padded length: smaller steps, fewer tokens."""
    model, pages, policy, _ = setup
    stats = {}
    for slack in (math.inf, 0.0):
        engine = EarlyExitEngine(model, policy, step_size=8, pool_size=40, merge_slack=slack)
        engine.classify(enumerate(pages))
        stats[slack] = engine.stats
    loose, strict = stats[math.inf], stats[0.0]
    assert strict.page_layers == loose.page_layers  # the same pages run the same layers
    assert strict.layer_tokens < loose.layer_tokens
    assert strict.layer_steps > loose.layer_steps
    with pytest.raises(ValueError, match="merge_slack"):
        EarlyExitEngine(model, policy, merge_slack=-0.1)


def test_results_stream_before_the_input_ends(setup):
    model, pages, policy, _ = setup
    consumed = []

    def items():
        for key, page in enumerate(pages):
            consumed.append(key)
            yield f"page-{key}", page

    engine = EarlyExitEngine(model, policy, step_size=4, pool_size=8)
    results = engine.run(items())
    key, prediction = next(results)
    assert key.startswith("page-") and isinstance(prediction, Prediction)
    assert len(consumed) < len(pages)
    rest = dict(results)
    assert len(rest) + 1 == len(pages) and key not in rest


def test_empty_input_and_errors(setup):
    model, pages, policy, _ = setup
    engine = EarlyExitEngine(model, policy)
    assert list(engine.run([])) == []
    with pytest.raises(ValueError, match="tokens"):
        long = PageFeatures(
            np.full(MAX_TEXT + 1, 5), np.zeros((MAX_TEXT + 1, 4), np.int64), pages[0].pixel_values
        )
        list(engine.run([("long", long)]))
    with pytest.raises(ValueError, match="exits"):
        EarlyExitEngine(model, PerExitThresholds((0.5, 1.0)))
    with pytest.raises(ValueError, match="mode"):
        EarlyExitEngine(model, policy, mode="fastest")
    with pytest.raises(ValueError, match="no policy"):
        EarlyExitEngine(model)
    model.train()
    try:
        with pytest.raises(ValueError, match="eval"):
            EarlyExitEngine(model, policy)
    finally:
        model.eval()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_matches_labels_mostly(setup):
    model, pages, policy, want = setup
    try:
        engine = EarlyExitEngine(model, policy, step_size=8, device="cuda")
        got = engine.classify(enumerate(pages))
    finally:
        model.to("cpu")
    agree = sum(got[k].label_id == w.label_id for k, w in enumerate(want))
    assert agree >= 0.9 * len(pages)


def test_benchmark_cli_writes_every_figure(tmp_path):
    """`docexit bench engine` end to end on a tiny checkpoint and a few generated pages."""
    import argparse
    import json

    from docexit.models.checkpoint import save_checkpoint
    from docexit.pipeline.cli import bench as bench_cli

    model = tiny_model(vocab=30522)  # the featurizer's WordPiece ids
    save_checkpoint(model, tmp_path / "model")
    parser = argparse.ArgumentParser()
    bench_cli.add_arguments(parser)
    out = tmp_path / "bench.json"
    args = parser.parse_args(
        ["engine", "--model", str(tmp_path / "model"), "--pages", "6", "--engine-step-sizes", "1,4"]
        + ["--exit-share", "0.3", "--device", "cpu", "--no-progress", "--json", str(out)]
        + ["--rounds", "2"]
    )
    assert bench_cli.main(args) == 0
    report = json.loads(out.read_text())
    assert set(report["modes"]) == set(MODES)
    for sizes in report["modes"].values():
        assert set(sizes) == {"1", "4"}
        for figures in sizes.values():
            assert figures["pages_per_s"] > 0 and 0 <= figures["accuracy"] <= 1
            assert figures["peak_mb"] >= 0
            assert len(figures["pages_per_s_rounds"]) == 2  # one per round, in rotation
    assert sum(report["exit_histogram"].values()) == 6
    assert report["ideal_speedup"] > 0
    assert set(report["ratios"]["e_over_b"]) == {"1", "4"}
    assert report["ratios"]["e_over_b"]["4"]["n"] == 2
    assert set(report["ratio_definitions"]) == set(report["ratios"])
    assert set(report["ratios"]["e_over_b_cpu"]) == {"1", "4"}  # side by side with wall clock
    assert report["target_basis"]["ratios"] == ("cpu" if report["threads"] == 1 else "wall")
    assert report["startup"]["model_load_s"] >= 0
    assert all(t["ok"] in (True, False) for t in report["targets"].values())
    assert out.with_suffix(".png").stat().st_size > 0


@pytest.mark.parametrize("extra", [[], ["--model", "m", "--random-base"]])
def test_benchmark_refuses_add_exits_without_a_model_of_its_own(extra, capsys):
    """`--add-exits` only applies to `--model`: refused, not silently ignored."""
    import argparse

    from docexit.pipeline.cli import bench as bench_cli

    parser = argparse.ArgumentParser()
    bench_cli.add_arguments(parser)
    args = parser.parse_args(["engine", "--add-exits", "quarter", "--no-progress", *extra])
    assert bench_cli.main(args) == 2
    assert "--add-exits needs --model" in capsys.readouterr().err
