"""Dataflow flex template entry point (FLEX_TEMPLATE_PYTHON_PY_FILE): submit, do not wait.

The template launcher runs this file with every template parameter as `--name=value`, plus the
Dataflow options it sets itself (`--runner`, `--project`, `--region`, `--temp_location`,
`--sdk_container_image`, ...). `translate_args` adapts the parameters to `docexit run`'s CLI:

- metadata.json names use underscores (`num_shards`); docexit's own flags use hyphens
  (`--num-shards`): a name that is a docexit flag once `_` becomes `-` is renamed;
- booleans arrive as `--no_summary=true|false`: they become `--no-summary` or nothing; so do
  flags with an optional value (`--skip_existing=true|false` -> `--skip-existing` or nothing;
  any other value passes on as `--skip-existing=VALUE`, e.g. a gs:// prefix of earlier outputs);
- `--input=a,b` (comma-separated patterns) becomes `--input=a --input=b`;
- `{run_date}` / `{run_id}` in `--output` become the UTC date (2026-01-31) / time stamp
  (20260131-020000), so a scheduler with a fixed request body still gets one prefix per run;
- Beam/Dataflow options pass unchanged. Anything that is neither a docexit nor a Beam option is an
  error, exit code 2, naming the closest known option (Beam would drop it silently).

Then it builds the job with docexit's builder and submits it. It does not wait for the job nor
read the outputs back (`docexit run` does both, which would keep the launcher VM up for the whole
job): the launcher only has to submit.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import sys

LOG = logging.getLogger("docexit.flex_main")

USAGE_EXIT = 2
TRUE = {"true", "1", "yes"}
FALSE = {"false", "0", "no", ""}


class UnknownOptionsError(SystemExit):
    """Options that neither docexit nor Beam knows: exit code 2, with a readable message."""

    def __init__(self, message: str) -> None:
        super().__init__(USAGE_EXIT)
        self.message = message

    def __str__(self) -> str:
        return self.message


def option_flags() -> tuple[dict[str, argparse.Action], set[str]]:
    """(docexit's flags -> their argparse actions, every Beam pipeline option flag)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from docexit.pipeline.options import DocexitOptions

    docexit = argparse.ArgumentParser(add_help=False)
    DocexitOptions._add_argparse_args(docexit)
    beam = argparse.ArgumentParser(add_help=False)
    for cls in PipelineOptions.__subclasses__():
        if cls is not DocexitOptions:
            cls._add_argparse_args(beam)
    docexit_flags = {
        flag: action
        for flag, action in docexit._option_string_actions.items()
        if flag.startswith("--")
    }
    beam_flags = {flag for flag in beam._option_string_actions if flag.startswith("--")}
    return docexit_flags, beam_flags


def expand_run_placeholders(value: str, now: datetime.datetime | None = None) -> str:
    """`{run_date}` -> 2026-01-31, `{run_id}` -> 20260131-020000 (UTC)."""
    now = now or datetime.datetime.now(datetime.UTC)
    return value.replace("{run_date}", now.strftime("%Y-%m-%d")).replace(
        "{run_id}", now.strftime("%Y%m%d-%H%M%S")
    )


def translate_args(
    argv: list[str],
    docexit_flags: dict[str, argparse.Action],
    beam_flags: set[str],
    now: datetime.datetime | None = None,
) -> list[str]:
    """The launcher's `--name=value` arguments as `docexit run` arguments (see module doc)."""
    out: list[str] = []
    unknown: list[str] = []
    for arg in argv:
        if not arg.startswith("--"):
            out.append(arg)
            continue
        name, has_value, value = arg.partition("=")
        hyphenated = "--" + name[2:].replace("_", "-")
        if hyphenated in docexit_flags:
            action = docexit_flags[hyphenated]
            if action.nargs == 0:  # store_true
                if not has_value or value.strip().lower() in TRUE:
                    out.append(hyphenated)
                elif value.strip().lower() not in FALSE:
                    raise SystemExit(f"flex_main: {name} takes true or false, got {value!r}")
            elif action.nargs == "?" and action.const is not None and has_value:
                if value.strip().lower() in TRUE:  # the flag alone: its default value
                    out.append(hyphenated)
                elif value.strip().lower() not in FALSE:
                    out.append(f"{hyphenated}={value}")
            elif hyphenated == "--input" and has_value:
                out += [f"--input={pattern.strip()}" for pattern in value.split(",") if pattern]
            elif hyphenated == "--output" and has_value:
                out.append(f"--output={expand_run_placeholders(value, now)}")
            else:
                out.append(f"{hyphenated}={value}" if has_value else hyphenated)
        elif name in beam_flags:
            out.append(arg)
        else:
            unknown.append(arg)
    if unknown:
        from docexit.pipeline.option_check import closest_flag

        known = [*docexit_flags, *beam_flags]
        named = []
        for arg in unknown:
            near = closest_flag(arg.split("=", 1)[0], known)
            named.append(f"{arg} (did you mean {near}?)" if near else arg)
        message = "options that neither docexit nor Beam knows: " + ", ".join(named)
        if os.environ.get("DOCEXIT_ALLOW_UNKNOWN_ARGS") != "1":
            raise UnknownOptionsError(f"flex_main: {message}")
        LOG.warning("%s (ignored)", message)
    return out


def submit(argv: list[str]) -> None:
    """Build the docexit job from `argv` and submit it to the runner; do not wait."""
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    from docexit.pipeline.build import build_pipeline, resolve_spec
    from docexit.pipeline.run import BATCH_ENVIRONMENT
    from docexit.transforms.io import check_patterns

    for name, value in BATCH_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    options = PipelineOptions(argv)
    FileSystems.set_options(options)  # GCS options apply to the up-front input check too
    spec = resolve_spec(options)
    check_patterns(spec.inputs)
    result = build_pipeline(options, spec).run()
    job_id = getattr(result, "job_id", lambda: None)()
    LOG.info("submitted docexit job %s: %s -> %s", job_id, spec.inputs, spec.output)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    docexit_flags, beam_flags = option_flags()
    try:
        args = translate_args(sys.argv[1:] if argv is None else argv, docexit_flags, beam_flags)
    except UnknownOptionsError as error:
        print(f"{error}", file=sys.stderr)
        return USAGE_EXIT
    submit(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
