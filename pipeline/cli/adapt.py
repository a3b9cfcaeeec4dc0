"""Adapt a trained model (the bundled one by default) to labelled real pages: fine-tune it on them
with synthetic replay pages, recalibrate, and re-choose its exit policy and visual threshold on
synthetic validation. First, k-fold cross-validation of that same procedure gives the real-page
accuracy of the result, each page scored by a model that never saw it (OUT/crossval.json)."""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import torch

from docexit.corpus.builder import labelled_pages_corpus
from docexit.models.training.adaptation import AdaptConfig, CrossvalReport
from docexit.pipeline.cli import options_as_argv
from docexit.pipeline.cli.arguments import add_labelled_folder_arguments

ADAPT_DEFAULTS = AdaptConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--real",
        type=Path,
        required=True,
        help="labelled real pages: a corpus folder or a labelled folder (OCR runs first, cached)",
    )
    parser.add_argument(
        "--synth",
        type=Path,
        required=True,
        help="the synthetic corpus (replay pages from its train split, calibration on validation)",
    )
    parser.add_argument("--out", type=Path, required=True, help="checkpoint folder to write")
    parser.add_argument(
        "--model", type=Path, default=None, help="model to adapt (default: bundled)"
    )
    add_labelled_folder_arguments(parser, "--real")
    parser.add_argument(
        "--folds", type=int, default=ADAPT_DEFAULTS.folds, help="cross-validation folds (0: none)"
    )
    parser.add_argument(
        "--crossval-only", action="store_true", help="only cross-validate; save no model"
    )
    add_archive_text_arguments(parser)
    for option in ("epochs", "batch_size", "replay_pages", "val_pages", "seed"):
        parser.add_argument(
            "--" + option.replace("_", "-"), type=int, default=getattr(ADAPT_DEFAULTS, option)
        )
    for option in ("lr_pretrained", "lr_new", "visual_min_threshold"):
        parser.add_argument(
            "--" + option.replace("_", "-"), type=float, default=getattr(ADAPT_DEFAULTS, option)
        )
    parser.add_argument(
        "--policy",
        default=ADAPT_DEFAULTS.policy,
        help="exit policy family chosen on synthetic validation (see docexit train), or `auto`",
    )
    parser.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="text tokens per page from now on (default: the model's own); real pages often "
        "hold more words than synthetic ones",
    )
    parser.add_argument("--device", default=ADAPT_DEFAULTS.device)
    parser.add_argument("--fp16", action="store_true", help="store weights as float16")
    parser.add_argument("--work-dir", type=Path, default=None, help="default OUT/work")


def add_archive_text_arguments(parser: argparse.ArgumentParser) -> None:
    """Labelled archive text: the cross-validation's floor, and the text pages."""
    parser.add_argument(
        "--archive-text",
        type=Path,
        metavar="JSONL",
        default=None,
        help="labelled archive text (as docexit corpus --baseline-text): the cross-validation "
        "compares the model with the text floor pooled with it when that floor is higher",
    )
    parser.add_argument(
        "--text-pages-per-class",
        type=int,
        metavar="N",
        default=ADAPT_DEFAULTS.text_pages_per_class,
        help="mix N --archive-text documents of each class it covers into fine-tuning, as "
        "text-only pages (typed boxes, blank image): an auxiliary text objective (default 0)",
    )


def main(args: argparse.Namespace) -> int:
    from docexit.models.checkpoint import load_checkpoint, save_checkpoint
    from docexit.models.device import resolve_device
    from docexit.models.training.adaptation import adapt, load_pages
    from docexit.models.training.model_card import TRAINING_FILE, write_model_card
    from docexit.pipeline.defaults import bundled_model_dir

    check_archive_text_arguments(args)
    archive = load_archive(args.archive_text)
    names = {f.name for f in fields(AdaptConfig)}
    config = AdaptConfig(**{k: v for k, v in vars(args).items() if k in names})
    model_dir = args.model or bundled_model_dir()
    real = load_pages(labelled_pages_corpus(args.real, args.labels_file, args.ocr_min_dpi))
    work_dir = args.work_dir or args.out / "work"
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{real.num_rows} real pages; adapting {model_dir}", flush=True)
    text_classes = archive.classes if args.text_pages_per_class else set()
    refuse_unusable_model(model_dir, real, str(args.real), args.folds > 0, text_classes)
    crossval = (
        run_crossval(args, model_dir, real, config, archive, work_dir) if args.folds else None
    )
    if args.crossval_only:
        return 0
    model = load_checkpoint(model_dir, device=resolve_device(args.device))
    start = time.perf_counter()
    model = adapt(model, real, args.synth, work_dir / "final", config, archive)
    save_checkpoint(model, args.out, dtype=torch.float16 if args.fp16 else torch.float32)
    base_training = model_dir / TRAINING_FILE
    (args.out / TRAINING_FILE).write_text(
        json.dumps(
            {
                "command": "docexit adapt " + " ".join(options_as_argv(args)),
                "adapt_config": vars(config),
                "seconds": time.perf_counter() - start,
                "real_pages": real.num_rows,
                "real_page_hashes": sorted(set(real.column("content_hash").to_pylist())),
                "crossval": None if crossval is None else crossval.to_dict(),
                "base_training": json.loads(base_training.read_text())
                if base_training.is_file()
                else None,
            },
            indent=2,
        )
    )
    write_model_card(args.out)
    print(f"wrote {args.out}")
    return 0


def check_archive_text_arguments(args: argparse.Namespace) -> None:
    """--archive-text sets the cross-validation's floor and feeds the text pages: refuse it
    where it would do neither, and text pages without it."""
    if args.text_pages_per_class < 0:
        raise SystemExit("docexit adapt: --text-pages-per-class must be 0 or more")
    if args.text_pages_per_class and not args.archive_text:
        raise SystemExit("docexit adapt: --text-pages-per-class takes its text from --archive-text")
    if args.archive_text and not args.folds and not args.text_pages_per_class:
        raise SystemExit(
            "docexit adapt: --archive-text sets the cross-validation's floor; use --folds "
            "(or --text-pages-per-class)"
        )


def load_archive(path: Path | None) -> Any:
    """The labelled archive text (`ArchiveText`), loaded once before any OCR or training, or
    None; a file that cannot be read is refused with the reason."""
    from docexit.corpus.archive_text import load_archive_text

    if path is None:
        return None
    try:
        return load_archive_text(path)
    except (OSError, ValueError) as error:
        raise SystemExit(f"docexit adapt: archive text {path}: {error}") from error


def run_crossval(
    args: argparse.Namespace,
    model_dir: Path,
    real: Any,
    config: AdaptConfig,
    archive: Any,
    work_dir: Path,
) -> CrossvalReport:
    """Cross-validate the adaptation; write OUT/crossval.json and the out-of-fold outputs."""
    from docexit.models.training.adaptation import OUT_OF_FOLD_FILE, cross_validate

    start = time.perf_counter()
    crossval = cross_validate(model_dir, real, args.synth, work_dir / "crossval", config, archive)
    crossval = replace(crossval, seconds=time.perf_counter() - start)
    (args.out / "crossval.json").write_text(json.dumps(crossval.to_dict(), indent=2))
    shutil.copyfile(work_dir / "crossval" / OUT_OF_FOLD_FILE, args.out / OUT_OF_FOLD_FILE)
    print(crossval_summary(crossval))
    return crossval


def refuse_unusable_model(
    model_dir: Path, real: Any, what: str, cross_validating: bool, text_classes: set[int]
) -> None:
    """Before any fold trains: the checkpoint loads with its own tokenizer, it has a class for
    every real page's label and every text page's (`text_classes`, RVL-CDIP ids), and (when
    cross-validating) it has not seen these pages."""
    from docexit.models.training.dataset import model_label_ids
    from docexit.pipeline.run import check_model
    from docexit.transforms.records import LABELS

    try:
        label_names = check_model(str(model_dir)).label_names
        model_label_ids(real, label_names, what)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"docexit adapt: {error}") from error
    missing = {LABELS[c] for c in text_classes} - set(label_names)
    if missing:
        raise SystemExit(
            f"docexit adapt: --archive-text has documents of classes {sorted(missing)} that "
            f"{model_dir} does not have, so they cannot become text pages"
        )
    if cross_validating:
        refuse_pages_seen_before(model_dir, real)


def refuse_pages_seen_before(model_dir: Path, real: Any) -> None:
    """Cross-validating pages the model was already adapted on would score pages it has seen."""
    from docexit.models.training.model_card import pages_seen_before

    seen = pages_seen_before(model_dir) & set(real.column("content_hash").to_pylist())
    if seen:
        raise SystemExit(
            f"docexit adapt: {model_dir} was already adapted on {len(seen)} of these pages, so "
            "cross-validation would score pages it has seen: adapt the model it started from "
            "(--model), or pass --folds 0"
        )


def crossval_summary(crossval: CrossvalReport) -> str:
    """Base vs adapted, out of fold."""
    lines = [f"{crossval.folds}-fold cross-validation on {crossval.adapted.headline.n} real pages:"]
    for name in ("base", "adapted"):
        r = getattr(crossval, name).headline
        lines.append(
            f"  {name:>8}: full depth {r.accuracy_full:.3f}, early exit "
            f"{r.accuracy_early_exit:.3f} (mean layer {r.mean_exit_layer:.2f}), with the "
            f"visual exit {r.accuracy_with_visual_exit:.3f} ({r.skip_ocr_share:.1%} skip OCR)"
        )
    if crossval.text_floor is not None:
        from docexit.models.training.model_card import text_floor_line

        lines.append(f"  text floor: {text_floor_line(crossval.text_floor)}")
    return "\n".join(lines)
