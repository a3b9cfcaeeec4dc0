"""Recalibrate a model (the bundled one by default) on labelled pages of your own archive: refit
its per-exit temperatures and confidence maps, re-choose its exit policy and its visual-exit
threshold on them; the weights stay as they are. First, k-fold cross-fitting measures what that
gains on these pages (OUT/calibration.json, OUT/reliability.png): each page is scored with a
calibration fitted on the other folds, next to the calibration the model came with."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docexit.corpus.builder import labelled_pages_corpus
from docexit.models.text_terms import PRIOR_FLOOR_FEATURES, TEXT_FEATURES
from docexit.pipeline.cli import options_as_argv
from docexit.pipeline.cli.arguments import add_labelled_folder_arguments, add_policy_arguments

if TYPE_CHECKING:
    from docexit.models.training.recalibration import ComparisonReport

CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class TextPriorInputs:
    """What --text-prior fits on: the prior (weights still 0), the pages' out-of-fold text
    features (N, 2, C), their OCR text, and the best pooled text floor's name and whether it
    gets each page right (N,), None without a report; pages in the outputs' order."""

    prior: Any
    text: Any
    texts: list[str]
    floor: Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data",
        type=Path,
        help="labelled archive pages: a corpus folder or a labelled folder (OCR runs first, "
        "cached); pages the model was not trained on",
    )
    source.add_argument(
        "--out-of-fold",
        type=Path,
        help="instead of --data: the out_of_fold_outputs.safetensors that `docexit adapt` wrote "
        "while cross-validating the model's own adaptation (each page's outputs from a fold "
        "model that never saw it); calibrates a model adapted on those very pages",
    )
    parser.add_argument("--out", type=Path, required=True, help="checkpoint folder to write")
    parser.add_argument(
        "--model", type=Path, default=None, help="model to recalibrate (default: bundled)"
    )
    add_labelled_folder_arguments(parser, "--data")
    parser.add_argument(
        "--folds", type=int, default=5, help="cross-fitting folds for the report (0: none)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="cross-fit this many fold assignments (seeds SEED, SEED+1, ...) and report their "
        "mean: on a few hundred pages one assignment's figures move by several points",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the first fold assignment")
    add_policy_arguments(parser, default="auto")
    parser.add_argument(
        "--visual-min-threshold",
        type=float,
        default=0.95,
        help="lowest visual-exit threshold to consider",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--fp16", action="store_true", help="store weights as float16")
    add_text_prior_arguments(parser)


def add_text_prior_arguments(parser: argparse.ArgumentParser) -> None:
    """--text-prior and what goes with it."""
    parser.add_argument(
        "--text-prior",
        type=Path,
        metavar="CORPUS",
        default=None,
        help="with --archive-text: also fit a text prior (replacing the model's), pooled into "
        "every exit: a text floor trained on these labelled pages' OCR words (the pages of "
        "--data or --out-of-fold) and an expert trained on the archive text; each exit's "
        "weights for them are chosen out of fold, and the calibration is fitted on the pooled "
        "outputs",
    )
    parser.add_argument(
        "--prior-words",
        type=int,
        default=None,
        metavar="N",
        help="with --text-prior: terms (words, or the floor's character n-grams) each of its "
        "classifiers keeps, the most frequent (default 10,000, so a prior stays under 1 MB in "
        "float16; 0: every term)",
    )
    parser.add_argument(
        "--prior-floor-features",
        choices=TEXT_FEATURES,
        default=PRIOR_FLOOR_FEATURES,
        help="what the text prior's floor counts in a page's OCR text: whole words, or "
        "character 3- to 5-grams inside words, which an OCR error breaks only in part "
        f"(default {PRIOR_FLOOR_FEATURES}); the expert counts words",
    )
    parser.add_argument(
        "--archive-text",
        type=Path,
        metavar="JSONL",
        default=None,
        help="labelled archive text for --text-prior's expert (as docexit corpus --baseline-text)",
    )


def _cross_fitted_report(
    args: argparse.Namespace,
    model,
    pages,
    options: dict,
    fit: TextPriorInputs | None,
    as_before,
) -> ComparisonReport:
    """Score every page with a calibration fitted on the other folds, for `--repeats` fold
    assignments (with the text prior `fit`, against the pooled text floor); `as_before`: the
    pages' outputs as the model came (pooled with its own prior, if any). Write
    `calibration.json`, `reliability.png` and `risk_coverage.png`, print the summary."""
    from dataclasses import replace

    from tqdm import tqdm

    from docexit.models.training import recalibration
    from docexit.models.training.adaptation import stratified_folds
    from docexit.models.training.text_prior_fit import fold_preparer

    shipped = recalibration.apply(recalibration.Calibration.of_model(model), as_before)
    prepare = None if fit is None else fold_preparer(fit.prior, pages, fit.text)
    seeds = range(args.seed, args.seed + args.repeats)
    archive = [
        recalibration.cross_fit(
            model,
            pages,
            stratified_folds(pages.labels.numpy(), args.folds, seed),
            prepare,
            **options,
        )[0]
        for seed in tqdm(seeds, desc="cross-fit")
    ]
    report = recalibration.comparison_report(
        model, pages, shipped, archive, folds=args.folds, fold_seeds=seeds
    )
    if fit is not None and fit.floor is not None:
        name, floor_correct = fit.floor
        floor = recalibration.against_floor(archive, pages.labels, floor_correct, name)
        report = replace(report, floor=floor)
    (args.out / CALIBRATION_FILE).write_text(json.dumps(report.to_dict(), indent=2))
    recalibration.plot_comparison(model, shipped, archive, args.out / "reliability.png")
    plot_review(shipped, archive, pages.labels, args.out / "risk_coverage.png")
    print(comparison_summary(report))
    return report


def main(args: argparse.Namespace) -> int:
    """Refit calibration, policy and visual threshold on labelled archive pages and save."""
    import torch

    from docexit.models.checkpoint import load_checkpoint, save_checkpoint
    from docexit.models.device import resolve_device
    from docexit.models.text_prior import drop_text_prior
    from docexit.models.training import recalibration
    from docexit.models.training.model_card import write_model_card
    from docexit.models.training.text_prior_fit import with_shipped_prior
    from docexit.pipeline.defaults import bundled_model_dir

    if args.folds == 1 or args.repeats < 1:
        raise SystemExit(
            "docexit calibrate: --folds must be 0 (no report) or at least 2, --repeats at least 1"
        )
    model_dir = args.model or bundled_model_dir()
    model = load_checkpoint(model_dir, device=resolve_device())
    own_prior = model.text_prior
    if args.text_prior is not None or args.out_of_fold:
        drop_text_prior(model)  # the outputs to fit on are the exits' own
    pages, hashes = (
        out_of_fold_pages(args.out_of_fold, model_dir, model)
        if args.out_of_fold
        else archive_pages(args, model_dir, model)
    )
    labels = pages.labels
    fit = fit_text_prior(args, model, pages, hashes)
    options = fit_options(args)
    args.out.mkdir(parents=True, exist_ok=True)
    report = (
        _cross_fitted_report(args, model, pages, options, fit, as_before(own_prior, pages, fit))
        if args.folds
        else None
    )
    if fit is not None:
        pages = with_shipped_prior(model, fit.prior, pages, fit.text)
    fitted = recalibration.fit(model, pages, **options)
    recalibration.store(model, fitted)
    save_checkpoint(model, args.out, dtype=torch.float16 if args.fp16 else torch.float32)
    write_training(args, model, model_dir, labels, vars(fitted), report)
    print(f"recalibrated model: {args.out} (card: {write_model_card(args.out)})")
    return 0


def write_training(
    args: argparse.Namespace,
    model: Any,
    model_dir: Path,
    labels: Any,
    calibration: dict[str, Any],
    report: ComparisonReport | None,
) -> None:
    """OUT/training.json: this step (command, pages, calibration, prior, cross-fitted report)
    on top of the model's own training chain."""
    import numpy as np

    from docexit.models.training.model_card import TRAINING_FILE

    base_training = Path(model_dir) / TRAINING_FILE
    step = {
        "command": "docexit calibrate " + " ".join(options_as_argv(args)),
        "archive_pages": int(labels.numel()),
        "archive_source": "out_of_fold" if args.out_of_fold else "held_out_pages",
        "archive_classes": int(np.unique(labels.numpy()).size),
        "calibration": calibration,
        "text_prior": None
        if args.text_prior is None
        else model.text_prior.summary(model.label_names),
        "archive_report": None if report is None else report.to_dict(),
        "base_training": json.loads(base_training.read_text()) if base_training.is_file() else None,
    }
    (args.out / TRAINING_FILE).write_text(json.dumps(step, indent=2))


def archive_pages(args: argparse.Namespace, model_dir: Path, model: Any) -> tuple[Any, list[str]]:
    """The model's outputs on the labelled pages of --data, refused if it was trained on them,
    and the pages' content hashes in that order."""
    from docexit.models.training import recalibration
    from docexit.models.training.adaptation import load_pages
    from docexit.models.training.dataset import model_label_ids
    from docexit.models.training.model_card import pages_seen_before

    table = load_pages(labelled_pages_corpus(args.data, args.labels_file, args.ocr_min_dpi))
    try:
        model_label_ids(table, model.label_names, str(args.data))
    except ValueError as error:
        raise SystemExit(f"docexit calibrate: {error}") from error
    seen = pages_seen_before(model_dir) & set(table.column("content_hash").to_pylist())
    if seen:
        raise SystemExit(
            f"docexit calibrate: {model_dir} was trained on {len(seen)} of these pages, so its "
            "outputs on them are overconfident and a calibration fitted on them would be too: "
            "calibrate on labelled pages it has not seen, or on the out-of-fold outputs of its "
            "adaptation (--out-of-fold)"
        )
    print(f"{table.num_rows} labelled pages; collecting {model_dir}'s outputs", flush=True)
    outputs = recalibration.model_outputs(model, table, args.batch_size)
    return outputs, table.column("content_hash").to_pylist()


def fit_options(args: argparse.Namespace) -> dict[str, Any]:
    """How `recalibration.fit` chooses the policy and the visual threshold."""
    return {
        "kind": args.policy,
        "tolerance": args.tolerance,
        "confidence": args.confidence,
        "visual_min_threshold": args.visual_min_threshold,
    }


def fit_text_prior(
    args: argparse.Namespace, model: Any, pages: Any, hashes: list[str]
) -> TextPriorInputs | None:
    """What --text-prior fits on, for the pages of `hashes` (the outputs' order); the pooled
    floor on --folds folds, dealt as `docexit adapt` deals them, when there is a report. None
    without --text-prior."""
    import numpy as np

    from docexit.corpus.archive_text import best_pooled_floor_correct, load_archive_text
    from docexit.models.training.adaptation import load_pages
    from docexit.models.training.dataset import model_label_ids
    from docexit.models.training.text_prior_fit import (
        PRIOR_TERMS,
        in_model_order,
        out_of_fold_text,
        page_texts,
        untrained_prior,
    )

    if args.text_prior is None:
        if args.archive_text is not None:
            raise SystemExit("docexit calibrate: --archive-text goes with --text-prior")
        return None
    if args.archive_text is None:
        raise SystemExit("docexit calibrate: --text-prior needs --archive-text")
    table = load_pages(labelled_pages_corpus(args.text_prior, args.labels_file, args.ocr_min_dpi))
    try:
        texts, rows = page_texts(table, hashes, str(args.text_prior))
    except ValueError as error:
        raise SystemExit(f"docexit calibrate: {error}") from error
    labels = model_label_ids(table, model.label_names, str(args.text_prior))[rows]
    if not np.array_equal(labels, pages.labels.numpy()):
        raise SystemExit(f"docexit calibrate: {args.text_prior} labels the pages otherwise")
    try:
        corpus_archive = load_archive_text(args.archive_text)
        archive = in_model_order(corpus_archive, model.label_names)
    except ValueError as error:
        raise SystemExit(f"docexit calibrate: {args.archive_text}: {error}") from error
    terms = PRIOR_TERMS if args.prior_words is None else (args.prior_words or None)
    prior = untrained_prior(
        texts,
        labels,
        archive,
        len(model.exits),
        len(model.label_names),
        terms,
        args.prior_floor_features,
    )
    floor = None
    if args.folds:  # the report compares the pipeline with it
        print(
            f"the pooled text floors, out of fold on {args.folds} folds dealt as docexit adapt does"
        )
        all_texts = [" ".join(map(str, words)) for words in table.column("words").to_pylist()]
        all_labels = np.asarray(table.column("label_id"))  # the archive text's class order
        name, correct = best_pooled_floor_correct(all_texts, all_labels, corpus_archive, args.folds)
        floor = (name, correct[rows])
    text = out_of_fold_text(texts, labels, prior)  # (N, 2, C)
    return TextPriorInputs(prior, text, texts, floor)


def as_before(own_prior: Any, pages: Any, fit: TextPriorInputs | None) -> Any:
    """The pages' outputs as the model came: pooled with its own text prior when it had one
    and the pages' text is known (--text-prior), else the exits' own."""
    import torch

    from docexit.models.training.text_prior_fit import pooled

    if own_prior is None or fit is None:
        return pages
    return pooled(own_prior, pages, torch.from_numpy(own_prior.page_probabilities(fit.texts)))


def out_of_fold_pages(path: Path, model_dir: Path, model: Any) -> Any:
    """Out-of-fold outputs of the model's own adaptation, checked to cover exactly the pages it
    was adapted on and to have its exits and classes."""
    from docexit.models.training.model_card import pages_seen_before
    from docexit.models.training.recalibration import ArchiveLogits

    if not path.is_file():
        raise SystemExit(f"docexit calibrate: --out-of-fold {path} is not a file")
    pages, hashes = ArchiveLogits.load(path)
    adapted_on = pages_seen_before(model_dir)
    if set(hashes) != adapted_on:
        raise SystemExit(
            f"docexit calibrate: {path} holds {len(set(hashes))} pages, but {model_dir} was "
            f"adapted on {len(adapted_on)} other or different pages: use the out-of-fold "
            "outputs of the cross-validation of this model's own adaptation"
        )
    expected = (len(model.exit_layers), len(model.config.label_names))
    if tuple(pages.logits.shape[::2]) != expected:
        raise SystemExit(
            f"docexit calibrate: {path} has {pages.logits.shape[0]} exits and "
            f"{pages.logits.shape[2]} classes, {model_dir} has {expected[0]} and {expected[1]}"
        )
    print(f"{len(hashes)} pages' out-of-fold outputs from {path}", flush=True)
    return pages, hashes


def floor_line(floor: Any) -> str:
    """The pipeline against the text floor, as printed (`recalibration.FloorComparison`)."""
    low, high = floor.difference_95ci
    return (
        f"  against the text floor ({floor.floor}), same pages, out of fold: "
        f"{floor.accuracy:.3f} vs {floor.floor_accuracy:.3f}, {100 * floor.difference:+.1f} "
        f"points, 95% paired interval [{100 * low:+.1f}, {100 * high:+.1f}]"
    )


def consistency_clause(headline: Any) -> str:
    """Whether the measured ECE is within what chance gives a perfectly calibrated model (the
    95th percentile of the chance ECE); nothing for reports written before it existed."""
    high = headline.reported_ece_by_chance_95
    if high is None:
        return ""
    verdict = "consistent with" if headline.reported_ece <= high else "beyond the noise of"
    return f", up to {high:.3f} in 95% of draws: {verdict} perfect calibration"


def comparison_summary(report: ComparisonReport) -> str:
    """The cross-fitted report as printed: headline figures, then ECE per exit."""
    shipped, archive, repeats = report.shipped, report.archive, report.repeats
    early_range = spread([r.accuracy_early_exit for r in repeats], "{:.3f}")
    layer_range = spread([r.mean_exit_layer for r in repeats], "{:.2f}")
    lines = [
        f"{report.folds}-fold cross-fitting, {len(repeats)} fold assignments, on "
        f"{report.n} pages (full-depth accuracy {report.accuracy_full:.3f}): model's "
        "calibration -> archive calibration, out of fold (mean over the assignments)",
        f"  early-exit accuracy {shipped.accuracy_early_exit:.3f} -> "
        f"{archive.accuracy_early_exit:.3f} ({early_range}); "
        f"mean exit layer {shipped.mean_exit_layer:.2f} -> {archive.mean_exit_layer:.2f} "
        f"({layer_range}) of {report.num_layers}",
        f"  with the visual exit {shipped.accuracy_with_visual_exit:.3f} -> "
        f"{archive.accuracy_with_visual_exit:.3f}; pages skipping OCR "
        f"{shipped.skip_ocr_share:.1%} -> {archive.skip_ocr_share:.1%}",
    ]
    lines.append(
        f"  ECE of the reported confidence {shipped.reported_ece:.3f} -> "
        f"{archive.reported_ece:.3f} (a perfectly calibrated model reporting the same "
        f"confidences would show {archive.reported_ece_by_chance:.3f} on {report.n} pages "
        f"by chance{consistency_clause(archive)})"
    )
    if report.floor is not None:
        lines.append(floor_line(report.floor))
    lines.append("  review at --min-confidence C (archive calibration, out of fold):")
    for row in report.risk_coverage.archive:
        accuracy = row.accuracy_kept
        lines.append(
            f"    C={row.min_confidence:.1f}: {row.flagged_share:.1%} flagged, accuracy of "
            f"the rest {'-' if accuracy is None else f'{accuracy:.3f}'}"
        )
    for row in report.exits:
        low, high = row.ece_change_90ci
        lines.append(
            f"  exit {row.name:>10}: accuracy {row.accuracy:.3f}"
            + ("" if row.accuracy_archive is None else f" -> {row.accuracy_archive:.3f}")
            + f", ECE {row.ece_shipped:.3f}"
            f" -> {row.ece_archive:.3f} (change, 90% CI: {low:+.3f} to {high:+.3f})"
        )
    return "\n".join(lines)


def plot_review(shipped: Any, archive: Sequence[Any], labels: Any, path: Path) -> Path:
    """Risk-coverage of the reported confidence: as shipped, and the archive calibration out of
    fold (pooled over the fold assignments)."""
    import torch

    from docexit.models.training.review import plot_risk_coverage

    pooled = torch.cat([o.reported for o in archive])  # (R * N,)
    pooled_correct = torch.cat([o.system_predictions == labels for o in archive])  # (R * N,)
    return plot_risk_coverage(
        [
            (shipped.reported, shipped.system_predictions == labels, "as shipped"),
            (pooled, pooled_correct, f"archive calibration, out of fold ({len(archive)} pooled)"),
        ],
        path,
        "Review by confidence: accuracy of the pages not flagged",
    )


def spread(values: Sequence[float], fmt: str) -> str:
    """The range of one archive figure over the fold assignments, e.g. `2.91 to 3.88`."""
    return f"{fmt.format(min(values))} to {fmt.format(max(values))}"
