"""Unknown options are an error: Beam's `PipelineOptions` drops them with a warning, so a
mistyped `--outptu` would run the job with the default output."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser


def known_flags() -> list[str]:
    """Every `--flag` of docexit's and Beam's pipeline options."""
    from docexit.pipeline.options import DocexitOptions  # registers the subclass

    parser = _BeamArgumentParser(allow_abbrev=False)
    for cls in {DocexitOptions, *PipelineOptions.__subclasses__()}:
        cls._add_argparse_args(parser)
    return sorted(flag for flag in parser._option_string_actions if flag.startswith("--"))


def closest_flag(flag: str, flags: Sequence[str]) -> str | None:
    """The known flag nearest to `flag` (hyphens and underscores alike), if any is close."""
    normal = {f.replace("_", "-"): f for f in flags}
    match = difflib.get_close_matches(flag.replace("_", "-"), list(normal), n=1, cutoff=0.6)
    return normal[match[0]] if match else None


def unknown_options(argv: Sequence[str]) -> list[str]:
    """The `--flags` in `argv` that no pipeline option defines."""
    flags = set(known_flags())
    unknown = []
    for arg in argv:
        name = arg.split("=", 1)[0]
        if not name.startswith("-") or _is_number(name) or name in ("-h", "--help"):
            continue
        if name not in flags:
            unknown.append(name)
    return unknown


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_options(argv: Sequence[str]) -> None:
    """Raise ValueError naming each unknown option and the closest known one."""
    unknown = unknown_options(argv)
    if not unknown:
        return
    flags = known_flags()
    parts = []
    for name in unknown:
        near = closest_flag(name, flags)
        parts.append(f"{name} (did you mean {near}?)" if near else name)
    raise ValueError("unknown option " + ", ".join(parts))
