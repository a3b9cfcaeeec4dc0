"""`docexit calibrate`: refit calibration, policy and visual threshold on labelled archive pages,
cross-fitted so that each page is scored by a calibration fitted without it."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F
from test_training import tiny_model, tiny_table

from docexit.models.checkpoint import load_checkpoint, save_checkpoint
from docexit.models.training import recalibration
from docexit.models.training.adaptation import stratified_folds
from docexit.models.training.metrics import ece_per_exit
from docexit.models.training.recalibration import ComparisonReport
from docexit.models.training.review import mean_risk_coverage, risk_coverage
from docexit.models.training.visual_training import add_visual_exit
from docexit.pipeline.cli import calibrate as calibrate_cli


def overconfident_pages(model, n: int = 600, stretch: float = 4.0, seed: int = 0):
    """Logits (E, N, 4) of noisy evidence for the label (stronger at later exits), multiplied
    by `stretch`: a model shipped with temperature 1 is overconfident on every exit."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=generator)  # (N,)
    evidence = [
        torch.randn(n, 4, generator=generator) + (0.8 + 0.2 * e) * F.one_hot(labels, 4)
        for e in range(len(model.config.exits))
    ]  # E x (N, 4)
    return recalibration.ArchiveLogits(stretch * torch.stack(evidence), None, labels, None)


def test_cross_fitting_scores_each_fold_with_a_calibration_fitted_without_it():
    model = tiny_model()
    model.config.temperatures = [1.0] * len(model.config.exits)
    model.config.policy = {
        "name": "max_prob",
        "num_exits": len(model.config.exits),
        "threshold": 0.9,
    }
    pages = overconfident_pages(model)
    folds = stratified_folds(pages.labels.numpy(), 4, seed=0)
    archive, calibrations = recalibration.cross_fit(model, pages, folds, kind="max_prob")
    assert len(calibrations) == 4
    held_out = torch.from_numpy(np.flatnonzero(folds == 2))
    trained_on = torch.from_numpy(np.flatnonzero(folds != 2))
    refit = recalibration.fit(model, pages.take(trained_on), kind="max_prob")
    assert calibrations[2] == refit  # the held-out fold never entered its own calibration
    alone = recalibration.apply(refit, pages.take(held_out))
    assert torch.equal(archive.confidence[:, held_out], alone.confidence)
    assert torch.equal(archive.predictions[held_out], alone.predictions)
    # every fold's calibration undoes the stretch: temperatures well above 1
    assert all(t > 2.0 for c in calibrations for t in c.temperatures)
    shipped = recalibration.apply(recalibration.Calibration.of_model(model), pages)
    report = recalibration.comparison_report(
        model, pages, shipped, [archive], folds=4, fold_seeds=[0]
    )
    assert [row.ece_shipped for row in report.exits] == pytest.approx(
        ece_per_exit(pages.logits, pages.labels)
    )
    for row in report.exits:  # out of fold, ECE falls well beyond this many pages' noise
        assert row.ece_archive < 0.5 * row.ece_shipped, row
        assert row.ece_change_90ci[1] < 0, row
    assert report.repeats == (report.archive,)  # one assignment: the mean is that one
    # calibration changes no label: full-depth accuracy is the same under both
    assert torch.equal(shipped.correct, archive.correct)
    model.config.policy = None  # a model that never chose a policy: every page to the end
    full_depth = recalibration.apply(recalibration.Calibration.of_model(model), pages)
    assert (full_depth.exit_index == len(model.config.exits) - 1).all()
    assert torch.equal(full_depth.predictions, pages.logits[-1].argmax(dim=-1))


def calibrate_args(tmp_path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    calibrate_cli.add_arguments(parser)
    return parser.parse_args(
        ["--data", str(tmp_path / "archive"), "--out", str(tmp_path / "out")]
        + ["--model", str(tmp_path / "base"), "--folds", "3", "--repeats", "2"]
        + ["--batch-size", "8"]
        + list(extra)
    )


def test_calibrate_command_reports_out_of_fold_and_saves_the_recalibrated_model(tmp_path):
    """Cross-fitted report and plot, then a model whose calibration, policy and visual threshold
    are fitted on every archive page and whose weights are those it started from; its card
    and training chain say so."""
    (tmp_path / "archive").mkdir()
    pq.write_table(tiny_table(6, seed=5), tmp_path / "archive" / "test.parquet")
    base = tiny_model()
    base.config.policy = {"name": "entropy", "num_exits": len(base.config.exits), "threshold": 0.5}
    add_visual_exit(base)
    save_checkpoint(base, tmp_path / "base")
    (tmp_path / "base" / "training.json").write_text(json.dumps({"command": "docexit train X"}))
    assert calibrate_cli.main(calibrate_args(tmp_path, "--visual-min-threshold", "0.2")) == 0

    out = tmp_path / "out"
    report = ComparisonReport.from_dict(json.loads((out / "calibration.json").read_text()))
    assert report.n == 24 and report.folds == 3 and report.fold_seeds == (0, 1)
    assert len(report.repeats) == 2  # the archive figures are the two assignments' mean
    for figure in (lambda h: h.accuracy_early_exit, lambda h: h.mean_exit_layer):
        mean = sum(figure(r) for r in report.repeats) / 2
        assert figure(report.archive) == pytest.approx(mean)
    assert len(report.exits) == len(base.config.exits)
    for headline in (report.shipped, report.archive):
        assert 0.0 <= headline.accuracy_early_exit <= 1.0
        assert 0.0 <= headline.mean_exit_layer <= base.num_layers
    assert (out / "reliability.png").stat().st_size > 10_000
    recalibrated = load_checkpoint(out)
    assert all(
        torch.equal(a, b)
        for a, b in zip(recalibrated.state_dict().values(), base.state_dict().values(), strict=True)
    )
    training = json.loads((out / "training.json").read_text())
    fitted = training["calibration"]
    assert recalibrated.config.temperatures == pytest.approx(fitted["temperatures"])
    assert recalibrated.config.temperatures != pytest.approx(base.config.temperatures)
    assert recalibrated.config.policy == fitted["policy"]
    assert recalibrated.config.visual_exit["temperature"] == pytest.approx(
        fitted["visual_temperature"]
    )
    assert recalibrated.config.visual_exit["threshold"] == fitted["visual_threshold"]
    assert training["command"].startswith("docexit calibrate")
    assert training["base_training"]["command"] == "docexit train X"
    card = (out / "MODEL_CARD.md").read_text()
    assert "## Recalibrated on archive pages, 3-fold cross-fitting" in card
    assert "temperatures (fitted on 24 labelled archive pages" in card
    early = report.archive.accuracy_early_exit
    assert (
        f"| early-exit accuracy | {report.shipped.accuracy_early_exit:.3f} | {early:.3f} |" in card
    )


def test_calibrate_refuses_pages_the_model_was_trained_on(tmp_path):
    (tmp_path / "archive").mkdir()
    table = tiny_table(2, seed=6)
    pq.write_table(table, tmp_path / "archive" / "test.parquet")
    save_checkpoint(tiny_model(), tmp_path / "base")
    hashes = table.column("content_hash").to_pylist()[:3]
    (tmp_path / "base" / "training.json").write_text(
        json.dumps({"command": "docexit adapt X", "real_page_hashes": hashes})
    )
    with pytest.raises(SystemExit, match="trained on 3 of these pages"):
        calibrate_cli.main(calibrate_args(tmp_path))
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_calibrate_fits_the_out_of_fold_outputs_of_the_models_own_adaptation(tmp_path):
    """A model adapted on every archive page is calibrated on the outputs its fold models gave
    on the pages they never saw: the stored outputs, not the model's own (overconfident) ones,
    decide the fit; a file covering other pages than the adaptation's is refused."""
    base = tiny_model()
    base.config.policy = {"name": "max_prob", "num_exits": len(base.config.exits), "threshold": 0.5}
    save_checkpoint(base, tmp_path / "base")
    pages = overconfident_pages(base, n=240, stretch=4.0)
    hashes = [f"{i:064x}" for i in range(240)]
    (tmp_path / "base" / "training.json").write_text(
        json.dumps({"command": "docexit adapt X", "real_page_hashes": hashes})
    )
    pages.save(tmp_path / "oof.safetensors", hashes)
    loaded, loaded_hashes = recalibration.ArchiveLogits.load(tmp_path / "oof.safetensors")
    assert loaded_hashes == hashes and torch.equal(loaded.labels, pages.labels)
    assert torch.allclose(loaded.logits, pages.logits)

    parser = argparse.ArgumentParser()
    calibrate_cli.add_arguments(parser)
    common = ["--out", str(tmp_path / "out"), "--model", str(tmp_path / "base"), "--folds", "3"]
    args = parser.parse_args(["--out-of-fold", str(tmp_path / "oof.safetensors"), *common])
    assert calibrate_cli.main(args) == 0
    report = ComparisonReport.from_dict(
        json.loads((tmp_path / "out" / "calibration.json").read_text())
    )
    assert report.n == 240
    # stretched logits: temperatures fitted on them soften every exit, and the reported
    # confidence, overconfident as shipped, is calibrated out of fold
    assert min(load_checkpoint(tmp_path / "out").config.temperatures) > 2.0
    assert report.archive.reported_ece < report.shipped.reported_ece / 2
    assert (tmp_path / "out" / "risk_coverage.png").stat().st_size > 10_000
    training = json.loads((tmp_path / "out" / "training.json").read_text())
    assert training["archive_source"] == "out_of_fold"
    card = (tmp_path / "out" / "MODEL_CARD.md").read_text()
    assert "out-of-fold outputs of this model's own adaptation on its 240 real pages" in card
    half = next(r for r in report.risk_coverage.archive if r.min_confidence == 0.5)
    assert f"| 0.5 | {half.flagged_share:.1%} |" in card

    pages.save(tmp_path / "other.safetensors", hashes[:-1] + ["f" * 64])
    args = parser.parse_args(["--out-of-fold", str(tmp_path / "other.safetensors"), *common])
    with pytest.raises(SystemExit, match="adapted on 240 other or different pages"):
        calibrate_cli.main(args)


def test_reported_confidence_is_the_exit_taken_or_the_visual_exit():
    """Each page reports the confidence of the exit it left at, or of the visual exit when it
    skipped OCR."""
    logits = torch.tensor([[[4.0, 0.0], [0.0, 0.1]], [[0.0, 5.0], [0.0, 3.0]]])  # (E=2, N=2, C=2)
    labels = torch.tensor([0, 1])
    visual = torch.tensor([[0.0, 0.0], [0.0, 9.0]])  # page 1 is sure on its image alone
    pages = recalibration.ArchiveLogits(logits, None, labels, visual)
    calibration = recalibration.Calibration(
        [1.0, 1.0],
        [[1.0, 0.0], [1.0, 0.0]],
        {"name": "max_prob", "num_exits": 2, "threshold": 0.9},
        visual_temperature=1.0,
        visual_threshold=0.99,
    )
    outcome = recalibration.apply(calibration, pages)
    assert outcome.exit_index.tolist() == [0, 1] and outcome.skips_ocr.tolist() == [False, True]
    assert outcome.reported[0] == pytest.approx(torch.tensor([4.0, 0.0]).softmax(0)[0])
    assert outcome.reported[1] == pytest.approx(torch.tensor([0.0, 9.0]).softmax(0)[1])


def test_risk_coverage_flags_pages_below_the_threshold():
    confidence = torch.tensor([0.2, 0.4, 0.6, 0.95])
    correct = torch.tensor([False, True, False, True])
    rows = risk_coverage(confidence, correct, thresholds=(0.3, 0.5, 0.99))
    assert [r.flagged_share for r in rows] == [0.25, 0.5, 1.0]
    assert [r.accuracy_kept for r in rows] == [pytest.approx(2 / 3), 0.5, None]
    mean = mean_risk_coverage([rows, risk_coverage(confidence, ~correct, (0.3, 0.5, 0.99))])
    assert [r.accuracy_kept for r in mean] == [pytest.approx(0.5), 0.5, None]
