"""`docexit bench TARGET`: benchmarks. `engine`: the early-exit engine's pages/s against full
depth (`docexit.benchmarks.engine_bench`). Each target module has `add_arguments(parser)` and
`main(args) -> int`; add a target by adding a line to TARGETS. Every target runs its modes in
rotation over rounds and prints its ratios with their definitions and its targets as PASS/FAIL
(`docexit.benchmarks.timing`)."""

from __future__ import annotations

import argparse
import importlib

# target -> (module, help). Only the chosen target's module runs; all are imported to build --help.
TARGETS: dict[str, tuple[str, str]] = {
    "engine": (
        "docexit.benchmarks.engine_bench",
        "pages/s of early exit with shrinking, refill and bucketing against full depth",
    ),
    "pipeline": (
        "docexit.benchmarks.pipeline_bench",
        "pages/s per stage and end to end vs. a bare tesserocr loop and OCR + inference",
    ),
    "scale": (
        "docexit.benchmarks.scale_bench",
        "nightly rerun with --skip-existing (bytes read, wall time, memory) and sink memory",
    ),
    "vision": (
        "docexit.benchmarks.vision_bench",
        "the exit before OCR against always-OCR: skip share, accuracy, pages/s",
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One sub-parser per target, with that target's own options."""
    targets = parser.add_subparsers(dest="target", required=True, metavar="TARGET")
    for name, (module_name, help_text) in TARGETS.items():
        module = importlib.import_module(module_name)
        sub = targets.add_parser(
            name,
            help=help_text,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)


def main(args: argparse.Namespace) -> int:
    module_name, _ = TARGETS[args.target]
    return int(importlib.import_module(module_name).main(args) or 0)
