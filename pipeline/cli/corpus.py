"""Build a train/validation/test corpus (OCR + page images as Parquet) from labelled folders, or
from freshly generated synthetic pages, and report the bag-of-words baseline."""

from __future__ import annotations

import argparse
from pathlib import Path

from docexit.corpus.baseline import (
    bag_of_words_baseline,
    cross_validated_baseline,
    synthetic_baselines,
)
from docexit.corpus.builder import BuildSettings, build_corpus
from docexit.corpus.sources import read_labelled_folders
from docexit.pipeline.cli.arguments import check_synth_archive_text
from docexit.transforms.ocr import OcrConfig

DEFAULT_SYNTH_PER_CLASS = 300  # 4,800 files: a study-worthy corpus that builds in < 1 h on 2 cores


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the pages come from, how they are read, and the baselines."""
    parser.add_argument("--out", type=Path, required=True, help="corpus folder to write")
    parser.add_argument(
        "--input",
        type=Path,
        action="append",
        default=[],
        help="labelled folder (labels.csv, class sub-folders, or with --labels-file); repeatable",
    )
    parser.add_argument("--labels-file", type=Path, help="RVL-CDIP label file (`path label_id`)")
    parser.add_argument(
        "--synth-per-class",
        type=int,
        default=None,
        help=f"generate this many synthetic pages per class first (default {DEFAULT_SYNTH_PER_CLASS} "
        "when no --input is given)",
    )
    parser.add_argument("--seed", type=int, default=0, help="synthetic generator seed")
    parser.add_argument(
        "--synth-archive-text",
        type=Path,
        help="labelled archive text (JSON lines with `text` and `rvl_cdip_label`, e.g. the "
        "Tobacco-3482 OCR text): generated pages of the classes it covers take their running "
        "text from its documents (real words in generated layouts); the others keep the "
        "generator's text",
    )
    parser.add_argument("--workers", type=int, default=BuildSettings().workers)
    parser.add_argument(
        "--ocr-backend", default="auto", choices=["auto", "tesserocr", "pytesseract"]
    )
    parser.add_argument("--lang", default="eng", help="Tesseract language")
    parser.add_argument("--psm", type=int, default=3, help="Tesseract page segmentation mode")
    parser.add_argument(
        "--ocr-min-dpi",
        type=int,
        default=None,
        help="upscale pages scanned below this resolution before OCR (as docexit run)",
    )
    add_baseline_arguments(parser)


def add_baseline_arguments(parser: argparse.ArgumentParser) -> None:
    """Which text-only baselines the corpus summary scores."""
    parser.add_argument("--no-baseline", action="store_true", help="skip the bag-of-words baseline")
    parser.add_argument(
        "--baseline-folds",
        type=int,
        default=0,
        help="also score the baseline by K-fold cross-validation over every page (the folds of "
        "docexit adapt): for small labelled samples, where the test split is a few dozen pages",
    )
    parser.add_argument(
        "--baseline-synth",
        type=Path,
        metavar="SYNTH_CORPUS",
        help="with --baseline-folds: also score the baseline trained on this synthetic corpus "
        "alone, and on each fold's pages plus the replay pages docexit adapt mixes in (how far "
        "synthetic text carries to these pages)",
    )
    parser.add_argument(
        "--baseline-text",
        type=Path,
        metavar="JSONL",
        help="with --baseline-folds: also score the baseline trained on each fold's pages plus "
        "this labelled archive text (JSON lines with `text` and `rvl_cdip_label`, e.g. the "
        "Tobacco-3482 OCR text), weighted three ways, and pooled with an expert trained on "
        "that text within the classes it covers: the fair floor for a model that learns from it",
    )
    parser.add_argument(
        "--replay-pages",
        type=int,
        default=None,
        help="replay pages for --baseline-synth (default: docexit adapt's --replay-pages default)",
    )


def synthetic_baselines_summary(real_dir: Path, synth_dir: Path, args: argparse.Namespace) -> str:
    """The baseline trained with synthetic pages, as lines for the corpus summary."""
    result = synthetic_baselines(real_dir, synth_dir, args.baseline_folds, args.replay_pages)
    return (
        f"bag-of-words baseline trained on {synth_dir}'s {result.synthetic_train_pages} "
        f"synthetic train pages alone: accuracy {result.synthetic_only:.3f} on these pages\n"
        f"bag-of-words baseline, the same {args.baseline_folds} folds plus docexit adapt's "
        f"{result.replay_pages} replay pages: accuracy {result.real_folds_with_replay:.3f}"
    )


def generated_pages(args: argparse.Namespace) -> list[Path]:
    """Generate --synth-per-class pages per class (the default number when no --input is
    given) under OUT/pages and return that folder; nothing to generate: []."""
    per_class = args.synth_per_class
    if per_class is None and not args.input:
        per_class = DEFAULT_SYNTH_PER_CLASS
    if args.synth_archive_text and not per_class:
        raise SystemExit("--synth-archive-text needs --synth-per-class N (pages to generate)")
    check_synth_archive_text(args.synth_archive_text, "corpus")
    if not per_class:
        return []
    from docexit.corpus.synth import write_corpus

    pages_dir = args.out / "pages"
    print(f"generating {per_class} synthetic pages per class into {pages_dir}")
    write_corpus(
        pages_dir,
        per_class=per_class,
        seed=args.seed,
        workers=args.workers,
        progress=True,
        archive_text=args.synth_archive_text,
    )
    return [pages_dir]


def main(args: argparse.Namespace) -> int:
    for option in ("baseline_synth", "baseline_text"):
        if getattr(args, option) and not args.baseline_folds:
            raise SystemExit(
                f"--{option.replace('_', '-')} needs --baseline-folds K (the folds of docexit adapt)"
            )
    files = read_labelled_folders(list(args.input) + generated_pages(args), args.labels_file)
    settings = BuildSettings(
        ocr=OcrConfig(
            lang=args.lang, psm=args.psm, backend=args.ocr_backend, min_dpi=args.ocr_min_dpi
        ),
        workers=args.workers,
    )
    report = build_corpus(files, args.out, settings)
    print(report.summary())
    if report.bad_pages:
        print(f"bad pages listed in {args.out / 'bad_pages.csv'}")
    if not args.no_baseline:
        result = bag_of_words_baseline(args.out)
        print(
            "bag-of-words baseline (TF-IDF + logistic regression on OCR text): "
            + (
                f"test accuracy {result.accuracy:.3f} ({result.test_pages} test pages, "
                f"{result.train_pages} train pages)"
                if result is not None
                else "not scored, too few pages per class for a test split (see --baseline-folds)"
            )
        )
    if args.baseline_folds:
        result = cross_validated_baseline(args.out, args.baseline_folds)
        print(
            f"bag-of-words baseline, {args.baseline_folds}-fold cross-validation over all "
            f"{result.test_pages} pages: accuracy {result.accuracy:.3f} (each fold trained on "
            f"about {result.train_pages} pages)"
        )
    if args.baseline_synth:
        print(synthetic_baselines_summary(args.out, args.baseline_synth, args))
    if args.baseline_text:
        print(archive_text_summary(args.out, args.baseline_text, args.baseline_folds))
    return 0


def archive_text_summary(real_dir: Path, text_file: Path, folds: int) -> str:
    """The baseline with labelled archive text, as lines for the corpus summary."""
    from docexit.corpus.archive_text import archive_text_floors, load_archive_text

    result = archive_text_floors(real_dir, load_archive_text(text_file), folds)
    lines = [
        f"bag-of-words baseline with {result.archive_documents} archive documents of "
        f"{text_file.name}, {folds} folds: all pages / the {result.covered_pages} pages of "
        f"classes the text covers / the {result.uncovered_pages} of classes it does not"
    ]
    width = max(map(len, result.floors))
    for name, accuracy in result.floors.items():
        lines.append(
            f"  {name:<{width}} {accuracy['all']:.3f} / {accuracy['covered']:.3f} / "
            f"{accuracy['uncovered']:.3f}"
        )
    for name, pool_weights in result.pool_weights.items():
        weights = ", ".join(f"{w:g}" for w in pool_weights)
        lines.append(f"  ({name}: the expert's weight, chosen by inner folds: {weights})")
    best, accuracy = result.best()
    lines.append(f"  best floor: {best} ({accuracy:.3f})")
    return "\n".join(lines)
