"""Evaluate a model (the bundled one by default) on a built corpus's test split, or on a labelled
folder of real pages (OCR runs first, cached): accuracy per exit, early-exit accuracy and depth,
calibration before and after temperature scaling. Writes REPORT/report.json and PNG plots."""

from __future__ import annotations

import argparse
from pathlib import Path

from docexit.pipeline.cli.arguments import add_labelled_folder_arguments
from docexit.pipeline.defaults import bundled_model_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="a corpus folder (from `docexit corpus`) or a labelled folder of pages",
    )
    parser.add_argument(
        "--report", type=Path, required=True, help="folder for report.json and plots"
    )
    parser.add_argument(
        "--model", type=Path, default=None, help="checkpoint folder (default: bundled)"
    )
    parser.add_argument("--split", default="test", help="corpus split to evaluate")
    add_labelled_folder_arguments(parser, "--data")
    parser.add_argument(
        "--add-to-card",
        metavar="TITLE",
        help="store this evaluation next to the model under TITLE and regenerate MODEL_CARD.md",
    )


def main(args: argparse.Namespace) -> int:
    from docexit.corpus.builder import cached_folder_corpus
    from docexit.models.checkpoint import load_checkpoint
    from docexit.models.tokenizer import featurizer_for
    from docexit.models.training.evaluation import evaluate_split
    from docexit.models.training.model_card import record_evaluation

    model_dir = args.model or bundled_model_dir()
    model = load_checkpoint(model_dir)
    corpus_dir, split = args.data, args.split
    if not (args.data / f"{split}.parquet").is_file():
        corpus_dir = cached_folder_corpus(args.data, args.labels_file, args.ocr_min_dpi)
        split = "test"
    featurizer = featurizer_for(model)
    try:
        report = evaluate_split(model, corpus_dir, split, args.report, featurizer)
    except ValueError as error:  # e.g. pages of a class the model does not have
        raise SystemExit(f"docexit evaluate: {error}") from error
    print(f"n={report.n}, policy {report.policy}")
    for line in report.lines():
        print(f"  {line}")
    for row in report.exits:
        low, high = row.ece_change_90ci
        print(
            f"  exit {row.name:>12}: accuracy {row.accuracy:.3f}, ECE {row.ece_before:.3f}"
            f" -> {row.ece_after:.3f} (change, 90% CI: {low:+.3f} to {high:+.3f}), exiting "
            f"{row.fraction_exiting:.1%}"
        )
    print(f"report: {args.report / 'report.json'}")
    if args.add_to_card:
        command = f"docexit evaluate --data {args.data} --report {args.report}"
        if args.model:
            command += f" --model {args.model}"
        card = record_evaluation(model_dir, args.add_to_card, command, report)
        print(f"model card: {card}")
    return 0
