"""Temperature scaling, ECE, per-exit metrics and plots on synthetic logits."""

from __future__ import annotations

import math

import pytest
import torch

from docexit.models.calibration import (
    IDENTITY_MAP,
    MAX_SLOPE,
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    apply_temperatures,
    confidence_ece,
    expected_calibration_error,
    fit_confidence_map,
    fit_confidence_maps,
    fit_temperature,
    fit_temperatures,
    map_confidence,
    reliability_bins,
    reliability_bins_from_confidence,
)
from docexit.models.training.metrics import (
    accuracy_per_exit,
    calibration_report,
    ece_per_exit,
    exit_fractions,
    exit_histogram,
)
from docexit.models.training.plots import plot_exit_histogram, plot_pareto, plot_reliability

TRUE_T = (2.0, 1.5, 0.7, 1.2)  # known miscalibration of each exit
MEANS = (1.0, 1.5, 2.0, 3.0)  # class-mean distance per exit: deeper = more accurate


def synthetic(
    n: int = 4000, c: int = 10, seed: int = 0, temperatures=TRUE_T
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """An "easy" early-exit model with a known calibrated posterior.

    Exit features ``u = mu_e * onehot(y) + N(0, I)``; the Bayes posterior is exactly
    ``softmax(mu_e * u)``, so ``mu_e * u`` are perfectly calibrated logits. Stored logits are
    those times ``T_e``, so temperature scaling should recover ``T_e``.

    Returns (stored logits (E, N, C), calibrated logits (E, N, C), labels (N,)).
    """
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, c, (n,), generator=g)
    onehot = torch.nn.functional.one_hot(labels, c).double()  # (N, C)
    calibrated = torch.stack(
        [mu * (mu * onehot + torch.randn(n, c, generator=g, dtype=torch.float64)) for mu in MEANS]
    )  # (E, N, C)
    t = torch.tensor(temperatures, dtype=torch.float64)[:, None, None]
    return (calibrated * t).float(), calibrated.float(), labels


def test_fit_temperature_recovers_true_temperature_and_reduces_ece() -> None:
    logits, _, labels = synthetic()
    temps = fit_temperatures(logits, labels)
    assert len(temps) == len(TRUE_T)
    for fitted, true in zip(temps, TRUE_T, strict=True):
        assert fitted == pytest.approx(true, rel=0.1)
    before = ece_per_exit(logits, labels)
    after = ece_per_exit(logits, labels, temps)
    for b, a, true in zip(before, after, TRUE_T, strict=True):
        assert a < 0.03
        if abs(true - 1.0) > 0.3:  # clearly miscalibrated exits improve a lot
            assert a < b / 2


def test_fit_temperature_clamps_and_handles_edge_cases() -> None:
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 4, (200,), generator=g)
    # Logits that are pure noise: the NLL-optimal temperature is huge -> clamped to 20.
    noise = 50.0 * torch.randn(200, 4, generator=g)
    assert fit_temperature(noise, labels) == pytest.approx(MAX_TEMPERATURE)
    # Always right with a tiny margin: the optimum is T -> 0 -> clamped to 0.05.
    tiny = 1e-3 * torch.nn.functional.one_hot(labels, 4).float()
    assert fit_temperature(tiny, labels) == pytest.approx(MIN_TEMPERATURE)
    assert fit_temperature(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)) == 1.0
    with pytest.raises(ValueError):
        fit_temperature(torch.zeros(3, 4, 2), labels[:3])


def stretched(
    n: int, slope: float, bias: float, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Confidences ``p`` in (0.2, 0.99) whose top label is right with probability
    ``sigmoid(slope * logit(p) + bias)``: overconfident when unsure, underconfident when sure
    for slope > 1, which no single temperature mends. Returns (p (N,), correct (N,))."""
    g = torch.Generator().manual_seed(seed)
    p = 0.2 + 0.79 * torch.rand(n, generator=g, dtype=torch.float64)
    truth = torch.sigmoid(slope * torch.logit(p) + bias)
    return p.float(), torch.rand(n, generator=g, dtype=torch.float64) < truth


def test_confidence_map_mends_miscalibration_a_temperature_cannot() -> None:
    p, correct = stretched(8000, slope=2.0, bias=-0.3)
    a, b = fit_confidence_map(p[:4000], correct[:4000])
    assert a == pytest.approx(2.0, rel=0.15) and b == pytest.approx(-0.3, abs=0.15)
    before = reliability_bins_from_confidence(p[4000:], correct[4000:]).ece
    after = reliability_bins_from_confidence(map_confidence(p[4000:], (a, b)), correct[4000:]).ece
    assert after < before / 2  # on pages the map never saw
    mapped = map_confidence(p, (a, b))
    assert bool((mapped.argsort() == p.argsort()).all())  # monotone: the order of pages stays


def test_confidence_map_keeps_calibrated_exits_and_bounds_its_slope() -> None:
    p, correct = stretched(8000, slope=1.0, bias=0.0, seed=1)  # already calibrated
    a, b = fit_confidence_map(p, correct)
    assert (a, b) == IDENTITY_MAP or (a == pytest.approx(1.0, abs=0.15) and abs(b) < 0.15)
    # A step (every page above 0.6 right, none below) would need an infinite slope.
    p, _ = stretched(2000, slope=1.0, bias=0.0, seed=2)
    a, _ = fit_confidence_map(p, p > 0.6)
    assert a == pytest.approx(MAX_SLOPE)
    all_right = torch.ones(100, dtype=torch.bool)
    assert fit_confidence_map(p[:100], all_right) == IDENTITY_MAP
    assert fit_confidence_map(p[:0], all_right[:0]) == IDENTITY_MAP
    with pytest.raises(ValueError, match=r"\(N,\)"):
        fit_confidence_map(p[:10], all_right[:9])


def test_fitted_maps_never_raise_the_ece_of_their_own_pages() -> None:
    logits, calibrated, labels = synthetic(n=1500, seed=4)
    temps = fit_temperatures(logits, labels)
    scaled = apply_temperatures(logits, temps)  # (E, N, C)
    maps = fit_confidence_maps(scaled, labels)
    assert len(maps) == logits.shape[0]
    after_t = ece_per_exit(scaled, labels)
    after_map = ece_per_exit(scaled, labels, confidence_maps=maps)
    for t_only, with_map, m in zip(after_t, after_map, maps, strict=True):
        assert with_map < t_only or (m == IDENTITY_MAP and with_map == t_only)


def test_ece_of_calibrated_sampler_is_small() -> None:
    _, calibrated, labels = synthetic(n=6000, seed=3)
    for e in range(calibrated.shape[0]):
        probs = torch.softmax(calibrated[e], dim=-1)
        assert expected_calibration_error(probs, labels) < 0.025


def test_ece_known_values() -> None:
    # Confidence 0.9 everywhere, 60% right -> ECE = |0.6 - 0.9| = 0.3.
    conf = torch.full((10,), 0.9)
    correct = torch.tensor([True] * 6 + [False] * 4)
    bins = reliability_bins_from_confidence(conf, correct, n_bins=15)
    assert bins.ece == pytest.approx(0.3)
    assert int(bins.counts.sum()) == 10
    assert int((bins.counts > 0).sum()) == 1
    # Always right with confidence 1 -> 0; bins are right-closed, so 1.0 is in the last bin.
    probs = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    rb = reliability_bins(probs, torch.tensor([0, 1]), n_bins=10)
    assert rb.counts[-1] == 2 and rb.ece == pytest.approx(0.0)
    assert math.isnan(float(rb.accuracy[0]))


def test_confidence_ece_of_one_or_several_versions_of_the_same_pages() -> None:
    correct = torch.tensor([True] * 6 + [False] * 4)
    sure = torch.full((10,), 0.9)  # 60% right at 0.9: ECE 0.3
    unsure = torch.full((10,), 0.5, dtype=torch.float64)  # 60% right at 0.5: ECE 0.1
    assert confidence_ece(sure, correct) == pytest.approx(0.3)
    assert confidence_ece(unsure, correct) == pytest.approx(0.1)
    versions = torch.stack([sure.double(), unsure])  # (R, N)
    assert confidence_ece(versions, correct) == pytest.approx(0.2)  # the mean over R


def test_apply_temperatures_and_validation() -> None:
    logits, calibrated, _ = synthetic(n=50)
    torch.testing.assert_close(apply_temperatures(logits, TRUE_T), calibrated)
    with pytest.raises(ValueError):
        apply_temperatures(logits, TRUE_T[:2])
    with pytest.raises(ValueError):
        apply_temperatures(logits, (1.0, 0.0, 1.0, 1.0))


def test_metrics_per_exit() -> None:
    logits, _, labels = synthetic(n=2000, seed=4)
    accs = accuracy_per_exit(logits, labels)
    assert accs == sorted(accs), "deeper exits of the synthetic model are more accurate"
    report = calibration_report(logits, labels, fit_temperatures(logits, labels))
    assert [r["exit"] for r in report] == [0, 1, 2, 3]
    for r in report:
        assert r["nll_after"] <= r["nll_before"] + 1e-6
    idx = torch.tensor([0, 0, 3, 1, 3, 3])
    assert exit_histogram(idx, 4) == [2, 1, 0, 3]
    assert sum(exit_fractions(idx, 4)) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        exit_histogram(torch.tensor([4]), 4)


def _is_png(path) -> bool:
    data = path.read_bytes()
    return len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_write_non_empty_pngs(tmp_path) -> None:
    logits, _, labels = synthetic(n=1500, seed=5)
    temps = fit_temperatures(logits, labels)
    rel = plot_reliability(
        logits, labels, temps, tmp_path / "rel.png", exit_names=["L1", "L4", "L8", "L12"]
    )
    hist = plot_exit_histogram([10, 5, 0, 20], tmp_path / "sub" / "hist.png")
    pareto = plot_pareto(
        {"max_prob": [(0.1, 0.9), (0.3, 0.85)], "patience": [(0.2, 0.88)]},
        tmp_path / "pareto.png",
        baseline_accuracy=0.9,
    )
    for p in (rel, hist, pareto):
        assert _is_png(p)


def test_ece_change_interval_separates_real_gains_from_noise() -> None:
    from docexit.models.training.metrics import ece_change_interval

    logits, calibrated, labels = synthetic()
    worst = max(range(len(TRUE_T)), key=lambda e: abs(TRUE_T[e] - 1.0))  # most miscalibrated
    before, after = logits[worst].softmax(-1), calibrated[worst].softmax(-1)  # (N, C)
    correct = before.argmax(-1) == labels  # (N,)
    low, high = ece_change_interval(before.amax(-1), after.amax(-1), correct, resamples=300)
    point = expected_calibration_error(after, labels) - expected_calibration_error(before, labels)
    assert low <= point <= high and high < 0  # a real improvement: the interval excludes 0
    same = ece_change_interval(before.amax(-1), before.amax(-1), correct, resamples=50)
    assert same == (0.0, 0.0)  # no change at all
    jitter = (calibrated[worst] * 1.01).softmax(-1)  # a 1% temperature change: noise
    low, high = ece_change_interval(after.amax(-1), jitter.amax(-1), correct, resamples=300)
    assert low < 0 < high or abs(low) + abs(high) < 0.01
    # R versions of the same pages (repeated cross-fitting): the mean of their ECEs
    versions = torch.stack([after.amax(-1), before.amax(-1)])  # (2, N)
    low, high = ece_change_interval(before.amax(-1), versions, correct, resamples=300)
    assert low <= point / 2 <= high and high < 0  # half the change of `after` alone
    twice = torch.stack(
        [after.amax(-1)] * 2
    )  # (2, N): two identical versions, one version's figures
    assert ece_change_interval(before.amax(-1), twice, correct, resamples=50) == pytest.approx(
        ece_change_interval(before.amax(-1), after.amax(-1), correct, resamples=50)
    )


def test_chance_ece_is_the_noise_of_a_perfectly_calibrated_model():
    """A model right exactly as often as it says still shows a binned ECE on few pages; it
    shrinks as pages grow, and a model sure and always right shows none."""
    from docexit.models.calibration import chance_ece

    spread = torch.linspace(0.3, 0.95, 148)  # (N,)
    few, many = chance_ece(spread), chance_ece(spread.repeat(20))
    assert 0.03 < few < 0.15 and many < few / 3
    assert chance_ece(torch.ones(50)) == 0.0


def test_chance_ece_95th_percentile_tells_noise_from_miscalibration():
    """Draws of a model right exactly as often as it says fall below the 95th percentile of
    the chance ECE about 95% of the time; a model that says 0.95 and is right 60% of the time
    is far beyond it, and calibrate's summary says which of the two a measured ECE is."""
    from docexit.models.calibration import chance_eces, confidence_ece
    from docexit.models.training.recalibration import Headline
    from docexit.pipeline.cli.calibrate import consistency_clause

    confidence = torch.linspace(0.3, 0.95, 148)  # (N,)
    by_chance = chance_eces(confidence)  # (D,)
    high = float(by_chance.quantile(0.95))
    assert by_chance.shape == (200,) and high > float(by_chance.mean()) > 0
    generator = torch.Generator().manual_seed(123)  # draws the percentile never saw
    right = torch.rand(400, 148, generator=generator, dtype=torch.float64) < confidence.double()
    below = sum(confidence_ece(confidence, r) <= high for r in right) / len(right)
    assert 0.88 <= below <= 0.99
    overconfident = torch.full((148,), 0.95)
    wrong = torch.arange(148) % 5 >= 3  # (N,) right 60% of the time
    measured = confidence_ece(overconfident, ~wrong)
    assert measured > float(chance_eces(overconfident).quantile(0.95)) + 0.2

    def headline(ece: float) -> Headline:
        return Headline(148, 0.5, 0.5, 0.5, 0.0, 3.0, ece, float(by_chance.mean()), high)

    assert "consistent with perfect calibration" in consistency_clause(headline(high - 0.01))
    assert "beyond the noise of perfect" in consistency_clause(headline(high + 0.01))
    older = Headline(148, 0.5, 0.5, 0.5, 0.0, 3.0, 0.2, 0.1)  # a report from before it
    assert consistency_clause(older) == ""
