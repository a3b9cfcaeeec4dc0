"""The `docexit` command: one subcommand per job."""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module, help). Each module exposes `add_arguments(parser)` and `main(args)`;
# imports are deferred so `docexit synth` does not pay for torch and Beam.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("docexit.corpus.synth_cli", "generate synthetic scanned pages"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="docexit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        module.add_arguments(sub.add_parser(name, help=help_text, description=module.__doc__))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # `docexit run` forwards unknown arguments to Beam, so it parses its own argv.
    if argv and argv[0] == "run":
        from docexit.pipeline.run import main as run_main

        return run_main(argv[1:])
    args = build_parser().parse_args(argv)
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    return int(module.main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
