"""The typed reports read the JSON the bundled model ships with (`evaluations.json`,
`training.json`) and write it back key for key; each report type survives to_dict -> from_dict."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import torch

from docexit.corpus.archive_text import ArchiveText
from docexit.models.policies import policy_from_dict
from docexit.models.policies.selection import PolicySummary, evaluate_policy, sweep
from docexit.models.training.adaptation import (
    FLOOR_NAME,
    CrossvalReport,
    FloorReport,
    OutcomeExit,
    OutcomeReport,
    stratified_folds,
    text_floor_report,
)
from docexit.models.training.evaluation import EvaluationReport, ExitReport, VisualExitReport
from docexit.models.training.model_card import training_chain
from docexit.models.training.recalibration import (
    ComparisonExit,
    ComparisonReport,
    FloorComparison,
    Headline,
)
from docexit.models.training.review import ReviewRow, risk_coverage

BUNDLED = Path(__file__).resolve().parents[1] / "models" / "bundled"


def bundled_steps() -> list[dict[str, Any]]:
    """The bundled model's training steps, oldest first (training.json)."""
    return training_chain(json.loads((BUNDLED / "training.json").read_text()))


def bundled_evaluations() -> list[dict[str, Any]]:
    """The reports in the bundled model's evaluations.json."""
    evaluations = json.loads((BUNDLED / "evaluations.json").read_text())
    return [entry["report"] for entry in evaluations.values()]


def step_reports(key: str) -> list[dict[str, Any]]:
    reports = [step[key] for step in bundled_steps() if step.get(key)]
    assert reports, f"the bundled training.json has no {key}"
    return reports


def assert_round_trip(report: Any) -> None:
    """to_dict is JSON (no tuples left after a dump) and from_dict gives the report back."""
    data = json.loads(json.dumps(report.to_dict()))
    assert data == report.to_dict()
    assert type(report).from_dict(data) == report


def assert_same_json(report_type: type, data: dict[str, Any]) -> Any:
    """`data` read and written back is the same JSON text, keys in the same order."""
    report = report_type.from_dict(data)
    assert json.dumps(report.to_dict(), indent=2) == json.dumps(data, indent=2)
    assert_round_trip(report)
    return report


@pytest.mark.parametrize("data", bundled_evaluations(), ids=["synthetic", "real"])
def test_evaluation_report_reads_and_writes_the_bundled_evaluations(data):
    report = assert_same_json(EvaluationReport, data)
    assert report.n == data["n"] and report.mean_exit_layer == data["mean_exit_layer"]
    assert isinstance(report.exits[0], ExitReport) and len(report.exits) == len(data["exits"])
    assert report.exits[-1].ece_change_90ci == tuple(data["exits"][-1]["ece_change_90ci"])
    assert isinstance(report.visual_exit, VisualExitReport)
    assert report.visual_exit.skip_ocr_share == data["visual_exit"]["skip_ocr_share"]
    assert_round_trip(report.exits[0])
    assert_round_trip(report.visual_exit)


def test_evaluation_report_without_the_optional_parts():
    """A model with no exit before OCR, and exit rows from before confidence maps: the keys
    stay out of the JSON rather than being written as null."""
    data = bundled_evaluations()[0]
    old_exits = [
        {k: v for k, v in e.items() if k not in ("ece_after_temperature", "ece_change_90ci")}
        for e in data["exits"]
    ]
    older = {k: v for k, v in data.items() if k not in EvaluationReport.OPTIONAL}
    report = assert_same_json(EvaluationReport, older | {"exits": old_exits})
    assert report.visual_exit is None and report.confidence_maps is None
    assert all(e.ece_after_temperature is None and e.ece_change_90ci is None for e in report.exits)


def test_visual_exit_report_keeps_a_null_accuracy_of_skipped():
    """No page skipped OCR: `accuracy_of_skipped` is None and written as null, not dropped."""
    data = {**bundled_evaluations()[0]["visual_exit"], "accuracy_of_skipped": None}
    report = assert_same_json(VisualExitReport, data)
    assert report.accuracy_of_skipped is None and "accuracy_of_skipped" in report.to_dict()


def test_crossval_report_reads_and_writes_the_bundled_training_json():
    """The bundled adapt step's cross-validation predates the text floor and the reported ECE:
    those parts are None, and stay out of the JSON written back."""
    for data in step_reports("crossval"):
        report = assert_same_json(CrossvalReport, data)
        assert report.folds == data["folds"] and report.seconds == data["seconds"]
        assert report.adapted.headline.accuracy_full == data["adapted"]["accuracy_full"]
        assert report.text_floor is None and report.base.headline.reported_ece is None
        assert isinstance(report.base.exits[0], OutcomeExit)
        for part in (report.base, report.adapted, report.base.headline, report.base.exits[0]):
            assert_round_trip(part)


def test_comparison_report_reads_and_writes_the_bundled_training_json():
    for data in step_reports("archive_report"):
        report = assert_same_json(ComparisonReport, data)
        assert report.fold_seeds == tuple(data["fold_seeds"])
        assert report.archive.mean_exit_layer == data["archive"]["mean_exit_layer"]
        assert len(report.repeats) == len(data["repeats"])
        assert isinstance(report.exits[0], ComparisonExit)
        assert isinstance(report.risk_coverage.archive[0], ReviewRow)
        for part in (report.exits[0], report.risk_coverage, report.risk_coverage.shipped[0]):
            assert_round_trip(part)
        older = {k: v for k, v in data.items() if k not in ComparisonReport.OPTIONAL}
        legacy = assert_same_json(ComparisonReport, older)
        assert legacy.repeats is None and legacy.risk_coverage is None and legacy.folds is None
    shipped = ComparisonReport.from_dict(step_reports("archive_report")[-1])  # the latest
    assert isinstance(shipped.floor, FloorComparison)  # against the text floor, paired
    assert_round_trip(shipped.floor)


def test_headline_mean_is_each_figure_averaged():
    repeats = [Headline.from_dict(r) for r in step_reports("archive_report")[0]["repeats"]]
    mean = Headline.mean(repeats)
    assert mean.mean_exit_layer == pytest.approx(np.mean([r.mean_exit_layer for r in repeats]))
    assert mean.reported_ece == pytest.approx(np.mean([r.reported_ece for r in repeats]))
    assert_round_trip(mean)


def test_floor_report_round_trip():
    labels = [0, 1, 2, 3] * 4
    real = pa.table({"words": [[f"class{y}", "page"] for y in labels], "label_id": labels})
    folds = stratified_folds(labels, 2, seed=0)
    order = np.concatenate([np.flatnonzero(folds == f) for f in range(2)])
    floor = text_floor_report(real, folds, order, torch.ones(16, dtype=torch.bool))
    assert isinstance(floor, FloorReport) and len(floor.adapted_minus_floor) == 3
    assert_round_trip(floor)


def test_the_floor_is_the_best_the_archive_text_allows():
    """Each page's word is its own, down to its character n-grams, so the real folds teach the
    floors nothing; archive text of classes 0 and 1 holds them, so a pooled floor is higher and
    is the one reported."""

    def own(y: int, i: int) -> str:
        return chr(ord("a") + 4 * y + i) * 3  # "aaa", "bbb", ...: no n-gram in common

    labels = [y for y in (0, 1, 2) for _ in range(4)]
    words = [[own(y, i)] for y in (0, 1, 2) for i in range(4)]
    real = pa.table({"words": words, "label_id": labels})
    folds = stratified_folds(labels, 2, seed=0)
    order = np.concatenate([np.flatnonzero(folds == f) for f in range(2)])
    texts = [" ".join(own(y, i) for i in range(4)) + f" n{k}" for y in (0, 1) for k in range(5)]
    archive = ArchiveText(texts, np.repeat([0, 1], 5))
    model_right = torch.ones(12, dtype=torch.bool)
    alone = text_floor_report(real, folds, order, model_right)
    pooled = text_floor_report(real, folds, order, model_right, archive)
    assert alone.name.startswith(FLOOR_NAME) and "pooled" not in alone.name
    assert pooled.name.startswith(FLOOR_NAME + ", ") and "pooled" in pooled.name
    assert pooled.accuracy >= 8 / 12 > alone.accuracy  # classes 0 and 1 right with the text
    assert pooled.adapted_minus_floor[0] == 1 - pooled.accuracy


def test_review_rows_round_trip_with_no_page_kept():
    rows = risk_coverage(torch.tensor([0.2, 0.6]), torch.tensor([True, False]), (0.5, 0.9))
    assert rows[1].accuracy_kept is None
    for row in rows:
        assert_round_trip(row)


def policy_summaries() -> Iterator[PolicySummary]:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 40, 4, generator=generator) * 3  # (E, N, C)
    labels = torch.randint(0, 4, (40,), generator=generator)  # (N,)
    policy = policy_from_dict({"name": "max_prob", "num_exits": 3, "threshold": 0.99})
    yield evaluate_policy(policy, logits, labels, None, [0, 2, 4], 4)
    yield from sweep("max_prob", logits, labels, None, [0, 2, 4], 4)


def test_policy_summary_round_trip():
    """`evaluate_policy`'s summary (no kind, no param in its JSON) and sweep rows (both)."""
    summaries = list(policy_summaries())
    assert "kind" not in summaries[0].to_dict() and summaries[0].kind is None
    assert list(summaries[1].to_dict())[:2] == ["kind", "param"]
    for summary in summaries:
        assert_round_trip(summary)


def test_outcome_report_is_the_headline_then_the_exits():
    data = step_reports("crossval")[0]["adapted"]
    report = assert_same_json(OutcomeReport, data)
    assert list(report.to_dict())[-1] == "exits"
    assert report.headline.n == data["n"]


def test_a_key_that_is_no_field_is_refused():
    data = {**bundled_evaluations()[0], "accuracy_ful": 0.5}
    with pytest.raises(TypeError, match="accuracy_ful"):
        EvaluationReport.from_dict(data)


def test_headline_mean_of_reports_from_before_a_figure_leaves_it_out():
    repeats = [Headline.from_dict(r) for r in step_reports("archive_report")[0]["repeats"]]
    assert all(r.reported_ece_by_chance_95 is None for r in repeats)  # saved before it existed
    mean = Headline.mean(repeats)
    assert mean.reported_ece_by_chance_95 is None
    assert mean.reported_ece_by_chance == pytest.approx(
        np.mean([r.reported_ece_by_chance for r in repeats])
    )
