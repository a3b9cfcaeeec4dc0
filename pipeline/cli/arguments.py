"""Argument groups that several subcommands share."""

from __future__ import annotations

import argparse
from pathlib import Path

USAGE_EXIT = 2  # a command that cannot start: bad options or inputs (as `docexit run`)


def add_labelled_folder_arguments(parser: argparse.ArgumentParser, data_option: str) -> None:
    """--labels-file and --ocr-min-dpi: how a labelled folder given as `data_option` is read."""
    parser.add_argument("--labels-file", type=Path, help=f"RVL-CDIP label file for {data_option}")
    parser.add_argument(
        "--ocr-min-dpi",
        type=int,
        default=None,
        help=f"OCR a labelled folder given as {data_option} as `docexit run --ocr-min-dpi` does "
        "(upscale pages scanned below this resolution); use what the pipeline will use",
    )


def add_policy_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    """--policy, --tolerance and --confidence: how the exit policy is chosen."""
    from docexit.models.policies import search_kinds

    parser.add_argument(
        "--policy",
        default=default,
        help=f"exit policy family to choose ({', '.join(search_kinds())}), or `auto`: the "
        f"family with the highest saving that meets the constraint (default {default})",
    )
    parser.add_argument(
        "--tolerance", type=float, default=0.0, help="accuracy loss allowed vs. full depth"
    )
    parser.add_argument(
        "--confidence",
        type=float,
        default=0.9,
        help="one-sided confidence that the chosen policy loses no accuracy vs. full depth",
    )


def check_synth_archive_text(path: Path | None, command: str) -> None:
    """Exit with a clear message when the archive text meant to fill generated pages cannot."""
    from docexit.corpus.synth import archive_documents

    if path is None:
        return
    try:
        archive_documents(path)
    except (OSError, ValueError) as error:
        raise SystemExit(f"docexit {command}: archive text {path}: {error}") from error
