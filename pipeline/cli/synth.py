"""Generate a labelled folder of synthetic scanned pages (16 RVL-CDIP classes): `labels.csv`,
`ground_truth.jsonl` and `images/` (PNG, TIFF, multi-page TIFF and PDF)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from docexit.pipeline.cli.arguments import check_synth_archive_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `docexit synth`."""
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--per-class", type=int, default=10, help="pages per class (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help=f"processes (default 1; this machine has {os.cpu_count()} cores)",
    )
    parser.add_argument(
        "--archive-text",
        type=Path,
        help="labelled archive text (JSON lines with `text` and `rvl_cdip_label`): pages of the "
        "classes it covers take their running text from its documents",
    )


def main(args: argparse.Namespace) -> int:
    """Write the corpus and print a one-line summary."""
    from docexit.corpus.synth import LABELS, timed_write

    if args.per_class < 1 or args.workers < 1:
        raise SystemExit("docexit synth: --per-class and --workers must be >= 1")
    check_synth_archive_text(args.archive_text, "synth")
    labels, pages, seconds = timed_write(
        args.out, args.per_class, args.seed, args.workers, args.archive_text
    )
    files = len(labels.read_text().splitlines()) - 1
    print(
        f"synth: {files} files, {pages} pages in {len(LABELS)} classes -> {labels.parent} in {seconds:.1f} s ({pages / max(seconds, 1e-9):.1f} pages/s)"
    )
    return 0
