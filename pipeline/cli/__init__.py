"""The `docexit` command: one subcommand per job."""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module, help). Each module exposes `add_arguments(parser)` and `main(args)`.
# Only the chosen subcommand's module is imported, so `docexit synth` does not load torch or Beam.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("docexit.pipeline.run", "classify scanned pages with the Beam pipeline"),
    "synth": ("docexit.pipeline.cli.synth", "generate synthetic scanned pages"),
    "corpus": ("docexit.pipeline.cli.corpus", "build an OCR'd train/validation/test corpus"),
    "train": (
        "docexit.pipeline.cli.train",
        "train, calibrate and choose the exit policy of a model",
    ),
    "evaluate": (
        "docexit.pipeline.cli.evaluate",
        "evaluate a model: per-exit accuracy, calibration",
    ),
    "adapt": (
        "docexit.pipeline.cli.adapt",
        "fine-tune a model on labelled real pages, cross-validated",
    ),
    "calibrate": (
        "docexit.pipeline.cli.calibrate",
        "recalibrate a model and re-choose its exit policy on labelled archive pages",
    ),
    "import": (
        "docexit.pipeline.cli.import_hf",
        "import a transformers LayoutLMv3 classifier as a docexit checkpoint",
    ),
    "export": (
        "docexit.pipeline.cli.export_hf",
        "export a checkpoint's backbone and final head as a transformers LayoutLMv3 folder",
    ),
    "bench": ("docexit.pipeline.cli.bench", "benchmarks: `bench engine` (early-exit speed)"),
    "study": ("docexit.pipeline.cli.study", "early-exit design study, measured speed"),
}


def options_as_argv(
    args: argparse.Namespace, skip: set[str] | frozenset = frozenset()
) -> list[str]:
    """The options a command was given, as command-line words (for training records): flags
    for True, nothing for None/False, and no option named in `skip`."""
    parts: list[str] = []
    for key, value in vars(args).items():
        if key in skip or key == "command" or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        parts.extend([flag] if value is True else [flag, str(value)])
    return parts


def usage() -> str:
    lines = ["usage: docexit COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_text}" for name, (_, help_text) in SUBCOMMANDS.items()]
    lines += ["", "`docexit COMMAND --help` describes each command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in {"-h", "--help"}:
        print(usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in SUBCOMMANDS:
        print(f"docexit: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module_name, help_text = SUBCOMMANDS[command]
    module = importlib.import_module(module_name)
    if command == "run":  # Beam parses its own pipeline options from the rest of argv
        return int(module.main(rest) or 0)
    parser = argparse.ArgumentParser(prog=f"docexit {command}", description=module.__doc__)
    module.add_arguments(parser)
    return int(module.main(parser.parse_args(rest)) or 0)


if __name__ == "__main__":
    sys.exit(main())
