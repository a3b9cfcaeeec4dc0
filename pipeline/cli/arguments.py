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
