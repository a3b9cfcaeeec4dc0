"""Exit policies, offline replay (simulate) and threshold selection on synthetic logits."""

from __future__ import annotations

import json

import pytest
import torch

from docexit.models.policies import (
    NEVER_EXIT,
    AnytimeBudget,
    EntropyThreshold,
    ExitPolicy,
    MarginThreshold,
    MaxProbThreshold,
    Patience,
    PerExitThresholds,
    PolicyState,
    exit_confidence,
    heuristic_thresholds,
    normalized_entropy,
    policy_from_dict,
    search_kinds,
    simulate,
    top2_margin,
)
from docexit.models.policies.replay import first_passing_exit
from docexit.models.policies.selection import (
    PolicySummary,
    evaluate_policy,
    exit_costs,
    pareto_front,
    select_policy,
    sweep,
)

KINDS = search_kinds()
E = 4
EXIT_LAYERS = [0, 4, 8, 12]  # a modality exit, two CLS exits, the final classifier
NUM_LAYERS = 12
MEANS = (1.0, 1.5, 2.0, 3.0)


def synthetic(n: int = 600, c: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Calibrated logits ``(E, N, C)`` of an "easy" model (deeper exits more accurate) and
    labels ``(N,)``: ``mu_e * (mu_e * onehot(y) + N(0, I))`` is the exact Bayes posterior."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, c, (n,), generator=g)
    onehot = torch.nn.functional.one_hot(labels, c).float()  # (N, C)
    logits = torch.stack([mu * (mu * onehot + torch.randn(n, c, generator=g)) for mu in MEANS])
    return logits, labels


def synthetic_gates(logits: torch.Tensor, seed: int = 1) -> list[torch.Tensor | None]:
    """Gate logits for exits 1 and 2 (random), none for the modality exit and the final one."""
    g = torch.Generator().manual_seed(seed)
    n = logits.shape[1]
    return [None, 2 * torch.randn(n, 2, generator=g), 2 * torch.randn(n, 2, generator=g), None]


def all_policies() -> list[ExitPolicy]:
    return [
        MaxProbThreshold(0.8, E),
        EntropyThreshold(0.3, E),
        MarginThreshold(0.5, E),
        Patience(2, E),
        PerExitThresholds([0.9, 0.8, 0.7, 0.0]),
        AnytimeBudget(MaxProbThreshold(0.95, E), max_exit=2),
        AnytimeBudget(Patience(3, E), max_exit=1),
    ]


def run_exit(policy: ExitPolicy, exit_index: int, logits: torch.Tensor, gate=None):
    return policy.decide(exit_index, logits, gate, policy.init_state(logits.shape[0]))


# ---------------------------------------------------------------------------------------------
# Per-page decisions
# ---------------------------------------------------------------------------------------------

CONFIDENT = [12.0, 0.0, 0.0, 0.0]
UNSURE = [0.3, 0.2, 0.1, 0.0]


@pytest.mark.parametrize(
    "policy",
    [
        MaxProbThreshold(0.9, E),
        EntropyThreshold(0.2, E),
        MarginThreshold(0.5, E),
        PerExitThresholds([0.9, 0.9, 0.9, 0.9]),
        Patience(1, E),  # patience 1: every page exits at its first exit
    ],
    ids=lambda p: p.name,
)
def test_decisions_are_per_page(policy: ExitPolicy) -> None:
    logits = torch.tensor([CONFIDENT, UNSURE, CONFIDENT])  # (3, C)
    exit_now, state = run_exit(policy, 0, logits)
    assert exit_now.dtype == torch.bool and exit_now.shape == (3,)
    if isinstance(policy, Patience):
        assert exit_now.tolist() == [True, True, True]
    else:
        assert exit_now.tolist() == [True, False, True]
    assert len(state) == 3


def test_scores() -> None:
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], CONFIDENT])
    torch.testing.assert_close(normalized_entropy(logits)[0], torch.tensor(1.0))
    assert float(normalized_entropy(logits)[1]) < 0.01
    assert float(top2_margin(logits)[0]) == pytest.approx(0.0)
    assert float(top2_margin(logits)[1]) > 0.99


def test_gate_replaces_max_softmax_for_threshold_policies() -> None:
    logits = torch.tensor([CONFIDENT, CONFIDENT])
    gate = torch.tensor([[3.0, -3.0], [-3.0, 3.0]])  # page 0: final likely wrong; page 1: right
    torch.testing.assert_close(exit_confidence(logits, gate), torch.softmax(gate, -1)[:, 1])
    for policy in (MaxProbThreshold(0.9, E), PerExitThresholds([0.9] * E)):
        exit_now, _ = run_exit(policy, 1, logits, gate)
        assert exit_now.tolist() == [False, True]
    # entropy and margin ignore the gate
    exit_now, _ = run_exit(EntropyThreshold(0.2, E), 1, logits, gate)
    assert exit_now.tolist() == [True, True]


def test_last_exit_always_exits() -> None:
    uniform = torch.zeros(5, 4)
    for policy in [*all_policies(), MaxProbThreshold(NEVER_EXIT, E), Patience(E + 3, E)]:
        exit_now, _ = run_exit(policy, E - 1, uniform)
        assert exit_now.all(), policy
        exit_now, _ = run_exit(policy, 0, uniform)
        assert not exit_now.any(), policy
    with pytest.raises(ValueError):
        run_exit(MaxProbThreshold(0.5, E), E, uniform)


def test_patience_semantics() -> None:
    # predictions per exit for 4 pages (argmax of a one-hot logit row)
    preds = torch.tensor(
        [
            [0, 0, 0, 0],  # same from the start -> exits at exit 1 with patience 2
            [0, 1, 1, 1],  # stable from exit 1 -> exits at exit 2
            [0, 1, 0, 1],  # never stable -> final exit
            [2, 2, 1, 1],  # stable at once -> exit 1
        ]
    ).T  # (E, N)
    logits = 5.0 * torch.nn.functional.one_hot(preds, 4).float()  # (E, N, C)
    assert simulate(Patience(2, E), logits).exit_index.tolist() == [1, 2, 3, 1]
    assert simulate(Patience(3, E), logits).exit_index.tolist() == [2, 3, 3, 3]
    assert simulate(Patience(1, E), logits).exit_index.tolist() == [0, 0, 0, 0]
    # state is per page: streak and last prediction
    policy = Patience(3, E)
    state = policy.init_state(2)
    _, state = policy.decide(0, logits[0, :2], None, state)
    _, state = policy.decide(1, logits[1, :2], None, state)
    assert state.tensors["streak"].tolist() == [2, 1]
    assert state.tensors["last_pred"].tolist() == [0, 1]
    with pytest.raises(ValueError):
        Patience(0, E)


def test_anytime_budget() -> None:
    logits, _ = synthetic(n=300)
    inner = MaxProbThreshold(0.9, E)
    plain = simulate(inner, logits).exit_index
    budget = simulate(AnytimeBudget(inner, max_exit=1), logits).exit_index
    assert int(budget.max()) <= 1
    # pages the inner policy lets out at exit 0 still leave there; the rest leave at exit 1
    torch.testing.assert_close(budget, plain.clamp(max=1))
    assert (simulate(AnytimeBudget(inner, max_exit=0), logits).exit_index == 0).all()
    with pytest.raises(ValueError):
        AnytimeBudget(inner, max_exit=E)


@pytest.mark.parametrize("policy", all_policies(), ids=lambda p: json.dumps(p.to_dict()))
def test_to_dict_round_trip(policy: ExitPolicy) -> None:
    d = json.loads(json.dumps(policy.to_dict()))
    back = policy_from_dict(d)
    assert back == policy
    assert back.to_dict() == policy.to_dict()
    assert back.num_exits == policy.num_exits


def test_from_dict_rejects_unknown() -> None:
    with pytest.raises(ValueError):
        policy_from_dict({"name": "nope"})
    with pytest.raises(ValueError):
        policy_from_dict({"threshold": 0.5})


# ---------------------------------------------------------------------------------------------
# State compaction and replay
# ---------------------------------------------------------------------------------------------


def reference_uncompacted(policy: ExitPolicy, logits: torch.Tensor, gates) -> torch.Tensor:
    """Run decide on *all* pages at every exit (no compaction); a page's exit is its first yes."""
    num_exits, n, _ = logits.shape
    state = policy.init_state(n)
    exit_index = torch.full((n,), -1)
    for e in range(num_exits):
        g = None if gates is None or gates[e] is None else gates[e]
        exit_now, state = policy.decide(e, logits[e], g, state)
        exit_index[(exit_index < 0) & exit_now] = e
    return exit_index


@pytest.mark.parametrize("use_gates", [False, True])
@pytest.mark.parametrize("policy", all_policies(), ids=lambda p: json.dumps(p.to_dict()))
def test_simulate_with_compaction_equals_uncompacted(policy: ExitPolicy, use_gates: bool) -> None:
    logits, _ = synthetic(n=400, seed=7)
    gates = synthetic_gates(logits) if use_gates else None
    result = simulate(policy, logits, gates)
    torch.testing.assert_close(result.exit_index, reference_uncompacted(policy, logits, gates))
    at_exit = logits[result.exit_index, torch.arange(logits.shape[1])]  # (N, C)
    torch.testing.assert_close(result.predictions, at_exit.argmax(-1))
    assert ((result.confidence >= 0) & (result.confidence <= 1)).all()
    # gates as a stacked (E, N, 2) tensor give the same answer when every exit has one
    if use_gates:
        full = torch.stack([g if g is not None else torch.zeros(400, 2) for g in gates])
        again = simulate(policy, logits, list(full))
        torch.testing.assert_close(again.exit_index, simulate(policy, logits, full).exit_index)


def test_state_select_and_concat_refill_like_the_engine() -> None:
    """Two batches run exit 0 separately; survivors are merged (concat) and run on together."""
    logits, _ = synthetic(n=200, seed=11)
    policy = AnytimeBudget(Patience(2, E), max_exit=E - 1)
    expected = simulate(policy, logits).exit_index
    exit_index = torch.full((200,), -1)
    pending = []  # (page positions, state) waiting at the next exit
    for pages in (torch.arange(0, 120), torch.arange(120, 200)):
        exit_now, state = policy.decide(0, logits[0, pages], None, policy.init_state(len(pages)))
        exit_index[pages[exit_now]] = 0
        pending.append((pages[~exit_now], state.select(~exit_now)))
    pages = torch.cat([p for p, _ in pending])
    state = PolicyState.concat([s for _, s in pending])
    assert len(state) == len(pages)
    for e in range(1, E):
        exit_now, state = policy.decide(e, logits[e, pages], None, state)
        exit_index[pages[exit_now]] = e
        keep = torch.nonzero(~exit_now).squeeze(1)  # integer-index compaction
        pages, state = pages[keep], state.select(keep)
    assert len(pages) == 0
    torch.testing.assert_close(exit_index, expected)


def test_policy_state_validation() -> None:
    state = Patience(2, E).init_state(3)
    assert len(state.select(torch.tensor([True, False, True]))) == 2
    assert len(state.select([2])) == 1
    assert len(PolicyState(3, {}).select(torch.tensor([0, 1]))) == 2
    with pytest.raises(ValueError):
        PolicyState(2, {"x": torch.zeros(3)})
    with pytest.raises(ValueError):
        PolicyState.concat([state, PolicyState(1, {})])
    with pytest.raises(ValueError):
        MaxProbThreshold(0.5, E).decide(0, torch.zeros(2, 4), None, PolicyState(3, {}))


# ---------------------------------------------------------------------------------------------
# Heuristic, search and selection
# ---------------------------------------------------------------------------------------------


def test_heuristic_formula_exact() -> None:
    # m = 1 - acc/ECE = [-4, -15, -44]; min-max with eps = 0.01 over [-44.01, -3.99]
    t = heuristic_thresholds([0.5, 0.8, 0.9], [0.1, 0.05, 0.02], eps=0.01)
    assert t == pytest.approx([40.01 / 40.02, 29.01 / 40.02, 0.01 / 40.02])
    assert all(0 < x < 1 for x in t)
    assert heuristic_thresholds([0.7, 0.7], [0.1, 0.1]) == pytest.approx([0.5, 0.5])
    logits, labels = synthetic()
    policy = PerExitThresholds.from_heuristic(logits, labels)
    assert policy.num_exits == E and all(0 < x < 1 for x in policy.thresholds)


def test_search_meets_constraint_and_vectorised_replay_matches_simulate() -> None:
    logits, labels = synthetic(n=800, seed=2)
    gates = synthetic_gates(logits)
    costs = exit_costs(EXIT_LAYERS, NUM_LAYERS)
    for tol in (0.0, 0.03):
        policy = PerExitThresholds.search(logits, labels, gates, costs=costs, tolerance=tol)
        res = evaluate_policy(policy, logits, labels, gates, EXIT_LAYERS, NUM_LAYERS)
        assert res.accuracy >= res.full_accuracy - tol - 1e-9
        assert res.saving > 0
        scores = torch.stack([exit_confidence(logits[e], gates[e]) for e in range(E)]).double()
        fast = first_passing_exit(scores, torch.tensor(policy.thresholds, dtype=torch.float64))
        torch.testing.assert_close(fast, simulate(policy, logits, gates).exit_index)


def test_exit_costs() -> None:
    assert exit_costs(EXIT_LAYERS, NUM_LAYERS) == pytest.approx([0.01, 1 / 3, 2 / 3, 1.0])
    measured = exit_costs([0, 1, 2], 2, layer_costs=[1.0, 3.0], embed_cost=1.0)
    assert measured == pytest.approx([0.2, 0.4, 1.0])
    with pytest.raises(ValueError):
        exit_costs([4, 2], 12)
    with pytest.raises(ValueError):
        exit_costs([13], 12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("tolerance", [0.0, 0.02])
def test_select_policy_respects_accuracy_constraint(kind: str, tolerance: float) -> None:
    logits, labels = synthetic(n=600, seed=5)
    sel = select_policy(kind, logits, labels, None, EXIT_LAYERS, NUM_LAYERS, tolerance=tolerance)
    assert sel.val_accuracy >= sel.full_accuracy - tolerance - 1e-9
    again = evaluate_policy(sel.policy, logits, labels, None, EXIT_LAYERS, NUM_LAYERS)
    assert again.accuracy == pytest.approx(sel.val_accuracy)
    assert again.saving == pytest.approx(sel.saving)
    assert sel.saving == pytest.approx(1 - sel.expected_cost)
    # best over the candidates: nothing feasible in the sweep saves more
    rows = sweep(kind, logits, labels, None, EXIT_LAYERS, NUM_LAYERS)
    feasible = [r.saving for r in rows if r.accuracy >= r.full_accuracy - tolerance - 1e-9]
    if kind != "per_exit_search":  # search candidates are tolerances, not the selection grid
        assert sel.saving == pytest.approx(max(feasible, default=0.0))
    if kind in ("max_prob", "per_exit_search"):
        assert sel.saving > 0.1 and not sel.fallback


@pytest.mark.parametrize("confidence", [None, 0.9])
def test_auto_policy_is_the_best_qualifying_family(confidence: float | None) -> None:
    logits, labels = synthetic(n=500, seed=7)
    args = (logits, labels, None, EXIT_LAYERS, NUM_LAYERS)
    auto = select_policy("auto", *args, confidence=confidence)
    each = [select_policy(kind, *args, confidence=confidence) for kind in KINDS]
    qualifying = [s.saving for s in each if not s.fallback]
    assert not auto.fallback and auto.kind in KINDS
    assert auto.saving == pytest.approx(max(qualifying))
    assert auto.val_accuracy >= auto.full_accuracy - 1e-9


def test_select_policy_falls_back_when_early_exits_are_confidently_wrong() -> None:
    logits, labels = synthetic(n=300, seed=6)
    bad = logits.clone()
    bad[:-1] = 20.0 * torch.nn.functional.one_hot((labels + 1) % 6, 6).float()  # (E-1, N, C)
    sel = select_policy("max_prob", bad, labels, None, EXIT_LAYERS, NUM_LAYERS)
    assert sel.fallback and sel.saving == pytest.approx(0.0)
    assert sel.val_accuracy == pytest.approx(sel.full_accuracy)


def test_sweep_and_pareto_front() -> None:
    logits, labels = synthetic(n=400, seed=8)
    rows = sweep("max_prob", logits, labels, None, EXIT_LAYERS, NUM_LAYERS)
    assert len(rows) > 5 and all(r.kind == "max_prob" and r.param is not None for r in rows)
    for r in rows:
        assert sum(r.exit_fractions) == pytest.approx(1.0)
        assert 0 <= r.mean_exit_layer <= NUM_LAYERS
    front = pareto_front(rows)
    savings = [p[0] for p in front]
    accs = [p[1] for p in front]
    assert savings == sorted(savings) and accs == sorted(accs, reverse=True)
    for r in rows:  # JSON-ready, and read back as written
        assert PolicySummary.from_dict(json.loads(json.dumps(r.to_dict()))) == r


# ---------------------------------------------------------------------------------------------
# The registry: a new policy is one class (README, "Extending docexit")
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def ratio_policy():
    """The README's example policy, registered for one test: exit when the top class is at
    least `threshold` times as likely as the runner-up."""
    from dataclasses import dataclass
    from typing import ClassVar

    from docexit.models.policies import ScoreThreshold, base

    @dataclass(frozen=True)
    class RatioThreshold(ScoreThreshold):
        name: ClassVar[str] = "ratio"
        kinds: ClassVar[tuple[str, ...]] = ("ratio",)
        grid: ClassVar[tuple[float, ...]] = (1.5, 2.0, 3.0, 5.0, 10.0, 100.0)
        never: ClassVar[float] = 1e12  # a ratio no page reaches

        def score(self, logits: torch.Tensor, gate: torch.Tensor | None) -> torch.Tensor:
            top = torch.softmax(logits.float(), dim=-1).topk(2, dim=-1).values  # (B, 2)
            return top[:, 0] / top[:, 1].clamp_min(1e-12)  # (B,)

    yield RatioThreshold
    base._REGISTRY.pop("ratio")


def test_a_new_policy_class_is_all_it_takes(ratio_policy) -> None:
    from docexit.models.policies import threshold_policy_names
    from docexit.models.policies.parsing import policy_threshold, resolve_policy
    from docexit.models.policies.selection import never_exit_early

    logits, labels = synthetic(n=400, seed=9)
    # the command line: --policy ratio --threshold 3, and the row's exit_threshold
    d = resolve_policy(None, E, "ratio", "3")
    assert d == {"name": "ratio", "threshold": 3.0, "num_exits": E}
    assert "ratio" in threshold_policy_names() and policy_threshold(d, 1) == 3.0
    policy = policy_from_dict(d)
    # decisions: the final exit always exits, earlier ones follow the score
    result = simulate(policy, logits)
    probs = torch.softmax(logits, dim=-1).topk(2, dim=-1).values  # (E, N, 2)
    first = first_passing_exit((probs[..., 0] / probs[..., 1]).double(), torch.full((E,), 3.0))
    assert torch.equal(result.exit_index, first)
    assert 0 < int((result.exit_index < E - 1).sum()) < logits.shape[1]
    # the threshold search, alone and in `auto`
    assert "ratio" in search_kinds()
    sel = select_policy("ratio", logits, labels, None, EXIT_LAYERS, NUM_LAYERS)
    assert isinstance(sel.policy, ratio_policy) and not sel.fallback
    assert sel.val_accuracy >= sel.full_accuracy - 1e-9 and sel.saving > 0
    never = never_exit_early("ratio", E)
    assert isinstance(never, ratio_policy) and simulate(never, logits).exit_index.eq(E - 1).all()
    auto = select_policy("auto", logits, labels, None, EXIT_LAYERS, NUM_LAYERS)
    assert auto.saving >= sel.saving


def test_policy_names_must_be_unique() -> None:
    from dataclasses import dataclass
    from typing import ClassVar

    with pytest.raises(ValueError, match="two policies named 'entropy'"):

        @dataclass(frozen=True)
        class Another(EntropyThreshold):
            name: ClassVar[str] = "entropy"
