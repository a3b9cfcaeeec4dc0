"""Write a model card (MODEL_CARD.md) next to a checkpoint from its own reports: the training
command, data, per-exit accuracy and ECE, the chosen policy, and evaluation figures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from docexit.models.training.adaptation import CrossvalReport, FloorReport, OutcomeExit
from docexit.models.training.evaluation import EvaluationReport, ExitReport
from docexit.models.training.recalibration import ComparisonReport, Headline


def _optional(value: float | None) -> str:
    """A figure to 3 decimals, or "-" where an older report lacks it."""
    return "-" if value is None else f"{value:.3f}"


def _ece_after(row: ExitReport | OutcomeExit) -> tuple[float | None, float | None]:
    """(ECE after the temperature, after temperature and map) of a report's exit row. Reports
    written before confidence maps existed hold the temperature-only ECE as `ece_after`."""
    if row.ece_after_temperature is None:
        return row.ece_after, None
    return row.ece_after_temperature, row.ece_after


def _exit_table(report: EvaluationReport) -> list[str]:
    lines = [
        "| exit | layer | accuracy | ECE before | after temperature | after confidence map "
        "| ECE change, 90% CI | pages exiting |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report.exits:
        interval = row.ece_change_90ci
        change = f"[{interval[0]:+.3f}, {interval[1]:+.3f}]" if interval else "-"
        lines.append(
            f"| {row.name} | {row.layer} | {row.accuracy:.3f} | {row.ece_before:.3f} "
            f"| {' | '.join(_optional(v) for v in _ece_after(row))} "
            f"| {change} | {row.fraction_exiting:.1%} |"
        )
    return lines


def _summary_line(report: EvaluationReport) -> str:
    line = (
        f"n = {report.n}: full-depth accuracy **{report.accuracy_full:.3f}**, early-exit "
        f"accuracy **{report.accuracy_early_exit:.3f}**, mean exit layer "
        f"{report.mean_exit_layer:.2f} of {report.num_layers} (simulated saving "
        f"{report.simulated_saving:.1%})"
    )
    visual = report.visual_exit
    if visual is not None:
        line += (
            f". Visual exit before OCR (threshold {visual.threshold}): "
            f"**{visual.skip_ocr_share:.1%}** of pages skip OCR; accuracy with it "
            f"**{visual.accuracy_with_visual_exit:.3f}** vs always-OCR "
            f"{visual.accuracy_always_ocr:.3f}; image alone {visual.accuracy_visual_alone:.3f}; "
            f"ECE {visual.ece_before:.3f} -> {visual.ece_after:.3f}"
        )
    return line


def _visual_exit_lines(config: dict[str, Any], chain: list[dict[str, Any]]) -> list[str]:
    """The visual exit's settings and how its threshold was chosen (`chain`: training steps)."""
    visual = config.get("visual_exit")
    if visual is None:
        return []
    lines = [
        "",
        "## Visual exit before OCR",
        "",
        f"A {len(visual['widths'])}-block CNN on a {visual['image_size']} px ink map of the page "
        f"(widths {visual['widths']}); temperature {visual['temperature']:.3f}; "
        + (
            f"pages with a calibrated confidence >= {visual['threshold']} skip OCR and the "
            "multimodal model."
            if visual["threshold"] is not None
            else "no threshold kept the accuracy, so every page goes through OCR."
        ),
    ]
    selection = chain[-1].get("visual_selection") if chain else None
    if selection:
        lines.append(
            f"Threshold chosen on validation: {selection['skip_share']:.1%} of pages skip OCR, "
            f"accuracy {selection['accuracy']:.4f} vs always-OCR "
            f"{selection['always_ocr_accuracy']:.4f}."
        )
    history = next((t["visual_history"] for t in reversed(chain) if t.get("visual_history")), [])
    if history:
        best = max(history, key=lambda h: h["val_accuracy"])
        lines.append(
            f"Trained alone for {len(history)} epochs; best validation accuracy "
            f"{best['val_accuracy']:.3f} (epoch {best['epoch']})."
        )
    return lines


def text_floor_line(floor: FloorReport) -> str:
    """The same-folds text floor and the adapted model's margin over it, in points."""
    diff, low, high = (100 * x for x in floor.adapted_minus_floor)
    verdict = "within noise" if low <= 0 <= high else ("above" if low > 0 else "below")
    return (
        f"{floor.name}: {floor.accuracy:.3f}; adapted model at full depth minus the floor "
        f"{diff:+.1f} points, 95% interval [{low:+.1f}, {high:+.1f}] ({verdict})"
    )


Row = tuple[str, Callable[[Headline], float | None], str]  # name, figure, format
FULL_DEPTH_ROW: Row = ("full-depth accuracy", lambda h: h.accuracy_full, "{:.3f}")
OUTCOME_ROWS: tuple[Row, ...] = (  # the real-page tables
    ("early-exit accuracy", lambda h: h.accuracy_early_exit, "{:.3f}"),
    ("mean exit layer", lambda h: h.mean_exit_layer, "{:.2f}"),
    ("accuracy with the visual exit", lambda h: h.accuracy_with_visual_exit, "{:.3f}"),
    ("pages skipping OCR", lambda h: h.skip_ocr_share, "{:.1%}"),
)
ECE_ROWS: tuple[Row, ...] = (
    ("ECE of the reported confidence", lambda h: h.reported_ece, "{:.3f}"),
    ("the same, perfectly calibrated, by chance", lambda h: h.reported_ece_by_chance, "{:.3f}"),
    (
        "the same, 95th percentile (below it: consistent with perfect calibration)",
        lambda h: h.reported_ece_by_chance_95,
        "{:.3f}",
    ),
)


def outcome_rows(headline: Headline) -> tuple[Row, ...]:
    """The table rows a report has figures for (older reports lack the ECE rows)."""
    return (*OUTCOME_ROWS, *(row for row in ECE_ROWS if row[1](headline) is not None))


def _calibrated_on(chain: list[dict[str, Any]]) -> str:
    """Where the model's current calibration and policy were fitted."""
    if chain and "archive_pages" in chain[-1]:
        if chain[-1].get("archive_source") == "out_of_fold":
            return (
                f"the out-of-fold outputs of this model's own adaptation on its "
                f"{chain[-1]['archive_pages']} real pages (each page's outputs from a fold model "
                "that never saw it; `docexit calibrate --out-of-fold`)"
            )
        return f"{chain[-1]['archive_pages']} labelled archive pages (`docexit calibrate`)"
    return "validation"


def _archive_calibration_lines(chain: list[dict[str, Any]]) -> list[str]:
    """The cross-fitted report of the latest `docexit calibrate` step, if any."""
    step = next((t for t in reversed(chain) if t.get("archive_report")), None)
    if step is None:
        return []
    report = ComparisonReport.from_dict(step["archive_report"])
    shipped, archive = report.shipped, report.archive
    rows = outcome_rows(shipped)
    return [
        "",
        f"## Recalibrated on archive pages, {report.folds}-fold cross-fitting",
        "",
        f"`docexit calibrate` refitted the temperatures, confidence maps, exit policy and "
        f"visual-exit threshold on {report.n} labelled archive pages (full-depth accuracy "
        f"{report.accuracy_full:.3f}; the weights are unchanged). Each page below is scored "
        "by a calibration fitted on the other folds, next to the calibration the model had; "
        f"archive figures are means over {len(report.repeats or (None,))} fold assignments.",
        "",
        "| | as before | archive calibration (out of fold) |",
        "|---|---|---|",
        *[
            f"| {name} | {fmt.format(figure(shipped))} | {fmt.format(figure(archive))} |"
            for name, figure, fmt in rows
        ],
        "",
        *_floor_lines(report),
        *_text_prior_lines(step.get("text_prior")),
        "| exit | accuracy | ECE as before | ECE, archive calibration | change, 90% CI |",
        "|---|---|---|---|---|",
        *[
            f"| {e.name} | {e.accuracy:.3f}"
            + ("" if e.accuracy_archive is None else f" -> {e.accuracy_archive:.3f}")
            + f" | {e.ece_shipped:.3f} | {e.ece_archive:.3f} "
            f"| [{e.ece_change_90ci[0]:+.3f}, {e.ece_change_90ci[1]:+.3f}] |"
            for e in report.exits
        ],
        *_review_lines(report),
    ]


def _floor_lines(report: ComparisonReport) -> list[str]:
    """The shipped pipeline against the text floor on the same pages, if the report has it."""
    floor = report.floor
    if floor is None:
        return []
    low, high = floor.difference_95ci
    return [
        f"Against the text floor ({floor.floor}; out of fold on `docexit adapt`'s folds, as "
        f"`docexit corpus --baseline-text` scores it): {floor.accuracy:.3f} vs "
        f"{floor.floor_accuracy:.3f}, **{100 * floor.difference:+.1f} points**, 95% paired "
        f"bootstrap interval [{100 * low:+.1f}, {100 * high:+.1f}].",
        "",
    ]


def _text_prior_lines(prior: dict[str, Any] | None) -> list[str]:
    """Where the text prior came from, if the calibration fitted one."""
    if not prior:
        return []
    return [
        f"With a text prior (`docexit calibrate --text-prior`): every exit is pooled with a "
        f"text floor trained on these pages' OCR words ({prior['floor_words']} words) and an "
        f"expert trained on labelled archive text ({prior['expert_words']} words, classes "
        f"{', '.join(prior['expert_classes'])}); the archive figures include it, each exit's weights "
        f"chosen inside the cross-fitting (shipped: floor {prior['floor_weights']}, expert "
        f"{prior['expert_weights']}), so the per-exit accuracy changes (before -> after).",
        "",
    ]


def _review_lines(report: ComparisonReport) -> list[str]:
    """The risk-coverage table of a cross-fitted report: pages flagged by --min-confidence."""
    table = report.risk_coverage.archive if report.risk_coverage else ()
    if not table:
        return []
    return [
        "",
        "Review (`docexit run --min-confidence C`), archive calibration, out of fold:",
        "",
        "| C | pages flagged | accuracy of the rest |",
        "|---|---|---|",
        *[
            f"| {r.min_confidence:.1f} | {r.flagged_share:.1%} | "
            f"{'-' if r.accuracy_kept is None else format(r.accuracy_kept, '.3f')} |"
            for r in table
        ],
    ]


def _crossval_lines(chain: list[dict[str, Any]]) -> list[str]:
    """The real-page cross-validation of the latest `docexit adapt` step, if any."""
    step = next((t for t in reversed(chain) if t.get("crossval")), None)
    if step is None:
        return []
    crossval = CrossvalReport.from_dict(step["crossval"])
    base, adapted = crossval.base.headline, crossval.adapted.headline
    rows = [FULL_DEPTH_ROW, *outcome_rows(base)]
    lines = [
        "",
        f"## Real pages, {crossval.folds}-fold cross-validation",
        "",
        f"`docexit adapt` fine-tuned the model on {adapted.n} labelled real pages. Each page "
        "below is scored by a model adapted (fine-tuned, recalibrated, policy re-chosen) without "
        "it, so these are the real-page figures to quote, not the evaluation of the real sample "
        "with the shipped model, which has seen every one of those pages.",
        "",
        *(
            [f"Text floor: {text_floor_line(crossval.text_floor)}.", ""]
            if crossval.text_floor is not None
            else []
        ),
        "| | before adaptation | adapted (out of fold) |",
        "|---|---|---|",
        *[
            f"| {name} | {fmt.format(figure(base))} | {fmt.format(figure(adapted))} |"
            for name, figure, fmt in rows
        ],
        "",
        "| exit | accuracy | ECE before | after temperature | after confidence map |",
        "|---|---|---|---|---|",
        *[
            f"| {e.name} | {e.accuracy:.3f} | {e.ece_before:.3f} | "
            + " | ".join(_optional(v) for v in _ece_after(e))
            + " |"
            for e in crossval.adapted.exits
        ],
    ]
    return lines


TRAINING_FILE = "training.json"  # written by `docexit train`, `adapt` and `calibrate`
EVALUATIONS_FILE = "evaluations.json"  # title -> {"command", "report"}, added to by evaluate
DESIGN_STUDY_FILE = "design_study.json"  # written by `docexit study` for the model it checks


def record_evaluation(model_dir: Path, title: str, command: str, report: EvaluationReport) -> Path:
    """Store one evaluation next to the model and regenerate its card."""
    path = Path(model_dir) / EVALUATIONS_FILE
    evaluations = json.loads(path.read_text()) if path.is_file() else {}
    evaluations[title] = {"command": command, "report": report.to_dict()}
    path.write_text(json.dumps(evaluations, indent=2))
    return write_model_card(model_dir)


def record_design_study(model_dir: Path, entry: dict[str, Any]) -> Path:
    """Store `docexit study`'s verdict on this model (command, report, best design, the model's
    own figures) next to it and regenerate its card."""
    (Path(model_dir) / DESIGN_STUDY_FILE).write_text(json.dumps(entry, indent=2))
    return write_model_card(model_dir)


def _design_study_lines(model_dir: Path, current_policy: dict[str, Any] | None) -> list[str]:
    path = model_dir / DESIGN_STUDY_FILE
    if not path.is_file():
        return []
    study = json.loads(path.read_text())
    check = study["shipped"]
    verdict = (
        f"has the design of the study's best, **{study['best']}**"
        if study["best"] in check["designs"]
        else f"is not the study's best design ({study['best']}); it matches "
        f"{', '.join(check['designs']) or 'none of its designs'}"
    )
    speedups = ", ".join(f"{s:.2f}x at batch {b}" for b, s in check["speedup"].items())
    low, high = (100 * x for x in check["vs_own_full"][1:])
    policy = check.get("policy") or {}
    policy_then = (
        "its own policy"
        if not policy or policy == current_policy
        else f"the policy it had then (`{json.dumps(policy, sort_keys=True)}`)"
    )
    return [
        "",
        "## Design: the study's choice",
        "",
        f"    {study['command']}",
        "",
        f"The [design study]({study['report']}) compared exit heads, exit inputs, placements, "
        f"training strategies, calibration and policies; this model {verdict}. With "
        f"{policy_then} on the study's {check['n']} test pages: early exit "
        f"{100 * check['accuracy_early_exit']:.1f}% vs full depth {100 * check['accuracy_full']:.1f}% "
        f"(95% interval of the difference [{low:+.1f}, {high:+.1f}] points), mean exit layer "
        f"{check['mean_exit_layer']:.2f}, measured speed-up over full depth {speedups}.",
    ]


def training_chain(training: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The training steps behind a model, oldest first: each `--from-model` run's training.json
    holds the one it started from under `base_training`."""
    chain: list[dict[str, Any]] = []
    while training:
        chain.insert(0, training)
        training = training.get("base_training")
    return chain


def write_model_card(model_dir: Path) -> Path:
    """MODEL_CARD.md from the folder's config.json, training.json and evaluations.json."""
    model_dir = Path(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    training_path = model_dir / TRAINING_FILE
    training = json.loads(training_path.read_text()) if training_path.is_file() else None
    evaluations_path = model_dir / EVALUATIONS_FILE
    evaluations = json.loads(evaluations_path.read_text()) if evaluations_path.is_file() else {}
    chain = training_chain(training)
    transformer = chain[0] if chain else None
    lines = [
        "# docexit bundled model",
        "",
        "A LayoutLMv3-architecture early-exit classifier for the 16 RVL-CDIP classes: text, layout",
        "and page-image embeddings into one encoder warm-started from all-MiniLM-L6-v2, with exit",
        "heads on pooled text and vision embeddings (before the encoder) and on the [CLS] state",
        "after several encoder layers. Weights are stored as float16 safetensors.",
        "",
        "## Training",
        "",
        f"    {transformer['command'] if transformer else '(no training.json)'}",
        *[line for step in chain[1:] for line in ("", "then:", "", f"    {step['command']}")],
        "",
        *[f"- note: {step['note']}" for step in chain if step.get("note")],
        *(
            [f"- data: `{transformer['corpus_command']}`"]
            if transformer and "corpus_command" in transformer
            else []
        ),
        f"- init: `{config.get('init_source')}`; exits: "
        + ", ".join(f"{e['source']}@{e['layer']} ({e['head']})" for e in config["exits"]),
        f"- text tokens per page: {config.get('max_text_tokens')}; page image: "
        f"{config['backbone'].get('input_size')} px",
        f"- temperatures (fitted on {_calibrated_on(chain)}): "
        f"{[round(t, 3) for t in config['temperatures']]}",
        f"- confidence maps (slope, bias), fitted on {_calibrated_on(chain)} after the "
        "temperatures: "
        + str([[round(v, 3) for v in m] for m in config.get("confidence_maps") or []]),
        f"- exit policy (chosen on {_calibrated_on(chain)}, no accuracy loss allowed): "
        f"`{json.dumps(config['policy'])}`",
        "",
        "| epoch | train loss | validation accuracy per exit | seconds |",
        "|---|---|---|---|",
    ]
    for epoch in transformer.get("history", []) if transformer else []:
        accuracies = " ".join(f"{a:.3f}" for a in epoch["val_accuracy_per_exit"])
        lines.append(
            f"| {epoch['epoch']} | {epoch['train_loss']:.4f} | {accuracies} | {epoch['seconds']:.0f} |"
        )
    lines += _visual_exit_lines(config, chain)
    lines += _crossval_lines(chain)
    lines += _archive_calibration_lines(chain)
    lines += _design_study_lines(model_dir, config.get("policy"))
    for title, evaluation in evaluations.items():
        report = EvaluationReport.from_dict(evaluation["report"])
        lines += ["", f"## {title}", "", f"    {evaluation['command']}", "", _summary_line(report)]
        lines += [""] + _exit_table(report)
    path = model_dir / "MODEL_CARD.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def pages_seen_before(model_dir: Path) -> set[str]:
    """Content hashes of the real pages any `docexit adapt` step behind this model used."""
    path = Path(model_dir) / TRAINING_FILE
    chain = training_chain(json.loads(path.read_text())) if path.is_file() else []
    return {h for step in chain for h in step.get("real_page_hashes", [])}
