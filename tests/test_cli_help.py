"""Every command's `--help` prints (argparse expands `%` in help texts: a stray one crashes it)."""

from __future__ import annotations

import pytest

from docexit.pipeline.cli import SUBCOMMANDS, main
from docexit.pipeline.cli.bench import TARGETS

COMMANDS = [[name] for name in SUBCOMMANDS if name != "bench"]
COMMANDS += [["bench", target] for target in TARGETS]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_prints_its_help(command: list[str], capsys) -> None:
    try:
        code = main([*command, "--help"])
    except SystemExit as exit_:  # argparse's --help
        code = exit_.code
    assert code == 0
    assert "usage:" in capsys.readouterr().out
