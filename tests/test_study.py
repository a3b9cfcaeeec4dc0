"""`docexit study`: the design grid, the policy sweep on stored logits, the statistics and the
choice of the best design (fast), and a reduced quick grid end to end (slow)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from docexit.benchmarks.study.grid import (
    BASE,
    FACTORS,
    QUICK,
    StudySettings,
    one_factor_grid,
    study_designs,
)
from docexit.benchmarks.study.stats import pareto_mask, within_noise
from docexit.benchmarks.study.sweep import (
    FULL_DEPTH,
    aggregate,
    attach_intervals,
    choose_best,
    keeps_accuracy,
    points_to_time,
    select_on_validation,
    sweep_run,
)
from docexit.benchmarks.study.train import Run, SplitLogits
from docexit.models.training.metrics import paired_bootstrap

# ---- the grid -------------------------------------------------------------------------------


def test_one_factor_grid_varies_exactly_one_factor_and_covers_every_level():
    grid = one_factor_grid()
    assert grid[0] == BASE
    assert len({d.name for d in grid}) == len(grid)
    assert len(grid) == 1 + sum(len(levels) - 1 for levels in FACTORS.values())
    for design in grid[1:]:
        changed = [f for f in FACTORS if getattr(design, f) != getattr(BASE, f)]
        assert changed == [design.varies], design
    for factor, levels in FACTORS.items():
        assert {getattr(d, factor) for d in grid} == set(levels)


def test_study_designs_always_keep_the_base_and_reject_unknown_names():
    names = [d.name for d in study_designs(["head=gate", "gate+concat"])]
    assert names == ["base", "head=gate", "gate+concat"]
    with pytest.raises(ValueError, match="unknown designs"):
        study_designs(["head=magic"])


def test_designs_with_the_same_exits_at_a_depth_share_one_trained_run():
    grid = {d.name: d for d in one_factor_grid()}
    key = StudySettings().training_key
    alternate, every = grid["placement=alternate"], grid["placement=all"]
    # at 4 layers both presets scale to exits after layers 1, 2, 3
    assert alternate.exits(4) == every.exits(4)
    assert key(alternate, 4, 0, "data") == key(every, 4, 0, "data")
    assert key(alternate, 12, 0, "data") != key(every, 12, 0, "data")
    assert key(alternate, 4, 0, "data") != key(alternate, 4, 1, "data")  # seeds
    assert key(alternate, 4, 0, "data") != key(alternate, 4, 0, "other corpus")
    assert key(alternate, 4, 0, "data") == replace(StudySettings(), repeats=9).training_key(
        alternate, 4, 0, "data"
    )  # timing settings do not retrain


# ---- sweeps on stored logits ----------------------------------------------------------------


def stored_run(seed: int = 0, n: int = 40) -> Run:
    """Three exits (after layers 2 and 4, final after 6) on n pages of 4 classes: the final
    classifier is always right; exit 0 is right and sharp on the first half of the pages and
    wrong with a flat-ish softmax on the rest; exit 1 is right everywhere but less sharp.
    Temperatures soften exit 0 (as if it were overconfident)."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4  # (N,)
    logits = torch.randn(3, n, 4, generator=generator) * 0.1  # (E, N, C)
    half = n // 2
    logits[0, torch.arange(half), labels[:half]] += 8.0
    logits[0, torch.arange(half, n), (labels[half:] + 1) % 4] += 1.0
    logits[1, torch.arange(n), labels] += 3.0
    logits[2, torch.arange(n), labels] += 6.0
    split = SplitLogits(logits, None, labels)
    return Run(
        key=f"fake{seed}",
        seed=seed,
        directory=Path("/nonexistent"),
        exit_layers=[2, 4, 6],
        num_layers=6,
        temperatures=[2.0, 1.0, 1.0],
        train_seconds=0.0,
        history=[],
        val=split,
        test=split,
    )


@pytest.fixture(scope="module")
def rows():
    rows = aggregate("base", [sweep_run(stored_run(), ["max_prob", "patience"])])
    full = next(r for r in rows if r.kind == FULL_DEPTH)
    attach_intervals(rows, full.correct, n_boot=500)
    return rows


def test_the_sweep_covers_both_calibrations_every_kind_and_full_depth(rows):
    kinds = {(r.calibrated, r.kind) for r in rows}
    assert kinds == {
        (True, "max_prob"),
        (False, "max_prob"),
        (True, "patience"),
        (False, "patience"),
        (True, FULL_DEPTH),
    }
    full = next(r for r in rows if r.kind == FULL_DEPTH)
    assert full.accuracy == 1.0 and full.saving == 0.0 and full.mean_exit_layer == 6.0
    assert full.intervals["vs_base_full"] == [0.0, 0.0, 0.0]
    patience_1 = next(r for r in rows if r.kind == "patience" and r.param == 1 and r.calibrated)
    assert patience_1.accuracy == 0.5  # everything leaves at exit 0, half of it wrong
    assert patience_1.saving == pytest.approx(1 - 2 / 6)
    assert patience_1.mean_exit_layer == 2.0


def test_validation_selection_keeps_accuracy_and_exits_the_sure_half_early(rows):
    chosen = select_on_validation(rows, "max_prob", calibrated=True)
    assert chosen is not None and chosen.accuracy == 1.0
    # the sharp half leaves after layer 2, the rest at exit 1 (layer 4): 1/2 * 2/6 + 1/2 * 4/6
    assert chosen.saving == pytest.approx(1 - 0.5)
    assert chosen.mean_exit_layer == pytest.approx(3.0)
    assert within_noise(*chosen.intervals["vs_own_full"][1:])
    assert keeps_accuracy(chosen, tolerance=0.0)
    losing = next(r for r in rows if r.kind == "patience" and r.param == 1 and r.calibrated)
    assert losing.intervals["vs_base_full"][2] < 0  # 20 of 40 pages lost: significant
    assert not keeps_accuracy(losing, tolerance=0.01)


def test_keeping_accuracy_is_within_tolerance_of_own_depth_and_not_below_the_base(rows):
    full = next(r for r in rows if r.kind == FULL_DEPTH)

    def point(own: list[float], base: list[float]):
        return replace(full, intervals={"vs_own_full": own, "vs_base_full": base})

    zero = [0.0, 0.0, 0.0]
    assert keeps_accuracy(point([-0.001, -0.004, 0.0], zero), 0.002)  # a loss within tolerance
    assert not keeps_accuracy(point([-0.014, -0.032, 0.004], zero), 0.002)  # within noise, too big
    assert not keeps_accuracy(point([-0.03, -0.05, -0.01], zero), 0.01)  # significant, too big
    assert keeps_accuracy(point(zero, [-0.014, -0.032, 0.004]), 0.002)  # other design, noise
    assert not keeps_accuracy(point(zero, [-0.03, -0.05, -0.01]), 0.01)  # worse than the base


def test_temperatures_change_which_pages_exit(rows):
    def at(calibrated: bool, threshold: float):
        return next(
            r
            for r in rows
            if r.kind == "max_prob" and r.calibrated == calibrated and r.param == threshold
        )

    # exit 0's wrong pages have max softmax ~0.48 raw and ~0.36 at T=2: a 0.4 threshold
    # takes them raw (accuracy falls), not calibrated
    assert at(False, 0.4).accuracy < 1.0
    assert at(True, 0.4).accuracy > at(False, 0.4).accuracy
    assert at(True, 0.4).policies == at(False, 0.4).policies  # same thresholds, other logits


def test_points_to_time_include_every_selection_and_the_validation_front(rows):
    points = points_to_time(rows, ["max_prob", "patience"], front_points=3)
    keys = {p.key for p in points}
    for calibrated in (True, False):
        chosen = select_on_validation(rows, "max_prob", calibrated)
        assert chosen is not None and chosen.key in keys
    assert all(p.kind != FULL_DEPTH and p.val_saving > 0 for p in points)
    assert len(keys) == len(points)


def test_seeds_are_averaged_page_by_page():
    two = aggregate("base", [sweep_run(stored_run(seed), ["patience"]) for seed in (0, 1)])
    row = next(r for r in two if r.kind == "patience" and r.param == 1 and r.calibrated)
    assert len(row.policies) == 2 and len(row.exit_index) == 2
    assert row.correct.shape == (40,)
    assert row.accuracy == pytest.approx(float(row.correct.mean()))


# ---- statistics and the best design ---------------------------------------------------------


def test_paired_bootstrap_intervals():
    rng = np.random.default_rng(0)
    same = np.zeros((1, 50))
    mean, low, high = paired_bootstrap(same, n_boot=300)
    assert (mean, low, high) == (0.0, 0.0, 0.0)
    noisy = rng.choice([-1.0, 0.0, 1.0], size=(3, 200), p=[0.1, 0.8, 0.1])
    noisy[2] = np.where(rng.random(200) < 0.3, -1.0, 0.0)  # a clear 30-point loss
    mean, low, high = paired_bootstrap(noisy, n_boot=1000)
    assert np.all(low <= mean) and np.all(mean <= high)
    assert within_noise(low[0], high[0])
    assert high[2] < 0
    again = paired_bootstrap(noisy, n_boot=1000)
    assert np.array_equal(again[1], low)  # seeded: the same intervals every time


def test_pareto_mask():
    assert pareto_mask([1.0, 2.0, 1.5, 2.0], [0.9, 0.8, 0.7, 0.85]) == [True, False, False, True]


def test_choose_best_takes_the_fastest_point_that_keeps_accuracy(rows):
    keep = select_on_validation(rows, "max_prob", calibrated=True)
    losing = next(r for r in rows if r.kind == "patience" and r.param == 1 and r.calibrated)
    full = next(r for r in rows if r.kind == FULL_DEPTH)
    full.timing = {"speedup": {"32": 1.0, "1": 1.0}}
    keep.timing = {"speedup": {"32": 1.6, "1": 1.1}}
    losing.timing = {"speedup": {"32": 2.5, "1": 1.4}}  # faster, but loses half the pages
    assert choose_best([full, keep, losing], tolerance=0.01) is keep
    keep.timing = {"speedup": {"32": 0.9, "1": 0.8}}  # slower than full depth in practice
    assert choose_best([full, keep, losing], tolerance=0.01) is None


# ---- end to end -----------------------------------------------------------------------------


@pytest.mark.slow
def test_quick_study_end_to_end_writes_report_pngs_and_json(tmp_path, capsys, tiny_model_dir):
    from docexit.models.checkpoint import load_checkpoint
    from docexit.models.policies import policy_from_dict
    from docexit.pipeline.cli import main

    out, report = tmp_path / "out", tmp_path / "report" / "study.md"
    argv = [
        "study",
        "--quick",
        "--out",
        str(out),
        "--report",
        str(report),
        "--designs",
        "head=gate",
        "--policies",
        "max_prob,patience,per_exit_heuristic",
        "--per-class",
        "12,6,8",
        "--epochs",
        "3",
        "--time-points",
        "1",
        "--bootstrap",
        "300",
        "--workers",
        "1",
        "--no-progress",
    ]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "base seed 0: trained in" in first and "head=gate seed 0: trained in" in first
    assert "best:" in first

    study = json.loads((report.parent / "study.json").read_text())
    assert [d["name"] for d in study["designs"]] == ["base", "head=gate"]
    assert study["sizes"] == {"train": 48, "validation": 24, "test": 32}
    rows = study["rows"]
    assert {r["kind"] for r in rows} == {"max_prob", "patience", "per_exit_heuristic", FULL_DEPTH}
    assert all(0.0 <= r["accuracy"] <= 1.0 and 0.0 <= r["mean_exit_layer"] <= 6 for r in rows)
    timed = [r for r in rows if r["kind"] != FULL_DEPTH and "speedup" in r["timing"]]
    assert timed, "no early-exit point was timed"
    for r in timed:
        assert set(r["timing"]["speedup"]) == {"32", "1"}
        assert all(0 < s < 100 for s in r["timing"]["speedup"].values())
        assert r["timing"]["exit_agreement"] > 0.9  # the engine exits where the replay does
    if study["best"] is not None:
        best = study["best"]
        assert best["figures"]["timing"]["speedup"]["32"] > 1.0
        model = load_checkpoint(best["model_dir"])
        assert policy_from_dict(best["policy"]).num_exits == len(model.exits)

    text = report.read_text()
    for section in ("## Best design", "## Pareto front", "## Calibration effect", "## Simulated"):
        assert section in text
    assert f"{100 * study['base_full_accuracy']:.1f}%" in text  # figures come from the results
    for png in ("study_pareto.png", "study_calibration.png", "study_simulated_vs_measured.png"):
        data = (report.parent / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000

    # a rerun trains and times no design again; it checks a shipped model against the winner
    shipped_dir = tmp_path / "shipped"
    shutil.copytree(tiny_model_dir, shipped_dir)
    assert main([*argv, "--shipped", str(shipped_dir)]) == 0
    second = capsys.readouterr().out
    assert "] base seed 0: cached" in second and "trained in" not in second
    shipped = json.loads((report.parent / "study.json").read_text())["shipped"]
    assert shipped["n"] == 32 and set(shipped["speedup"]) == {"32", "1"}
    assert shipped["designs"] == []  # a 2-layer model: none of the study's 6-layer designs
    assert 0.0 <= shipped["accuracy_early_exit"] <= 1.0 and 0 < shipped["speedup"]["32"] < 100
    assert "## The shipped model" in report.read_text()
    card = (shipped_dir / "MODEL_CARD.md").read_text()  # the card links the study's report
    assert "## Design: the study's choice" in card and "../report/study.md" in card

    no_policy = tmp_path / "no-policy"
    no_policy.mkdir()
    (no_policy / "config.json").write_text(json.dumps({"model_type": "docexit-early-exit"}))
    assert main([*argv, "--shipped", str(no_policy)]) == 2
    assert "stores no exit policy" in capsys.readouterr().err


def test_the_shipped_model_is_matched_to_designs_by_exits_and_recorded_strategy(tmp_path):
    from docexit.benchmarks.study.grid import one_factor_grid
    from docexit.benchmarks.study.shipped import matching_designs, recorded_strategy

    designs = one_factor_grid()
    independent = next(d for d in designs if d.name == "modality=independent")
    exits = independent.exits(6)
    assert matching_designs(exits, "joint", designs, 6) == ["modality=independent"]
    assert matching_designs(exits, "two_stage", designs, 6) == []
    base_exits = designs[0].exits(6)  # quarter, CLS only: base and two strategies share it
    assert matching_designs(base_exits, None, designs, 6) == [
        d.name for d in designs if d.exits(6) == base_exits
    ]

    (tmp_path / "training.json").write_text(
        json.dumps(
            {
                "command": "docexit train --from-model m --policy auto",
                "base_training": {"command": "docexit train --init minilm --strategy two_stage"},
            }
        )
    )
    assert recorded_strategy(tmp_path) == "two_stage"
    assert recorded_strategy(tmp_path / "missing") is None


def test_quick_settings_are_small():
    assert QUICK.init == "random" and QUICK.layers <= 6 and QUICK.hidden <= 128
    assert QUICK.batch_sizes == (32, 1)


def test_timing_caps_spread_over_the_split():
    """Splits are stored class by class: a timing cap must sample the whole split."""
    from docexit.benchmarks.study.timing import TimingPlan

    plan = TimingPlan((32, 1), repeats=1, pages_bs1=4, min_seconds=0.0, pages_batched=10)
    assert plan.indices(1, 100) == [0, 33, 66, 99]
    batched = plan.indices(32, 100)
    assert len(batched) == 10 and batched[0] == 0 and batched[-1] == 99
    assert TimingPlan((32,), 1, None, 0.0).indices(32, 7) == list(range(7))
