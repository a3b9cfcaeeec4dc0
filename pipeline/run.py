"""`docexit run`: classify scanned pages into Parquet (see `docexit run --help`).

`run(argv, test_pipeline=None)` builds and runs the job and returns its `RunSummary`; tests pass
a `TestPipeline`. `main(argv)` is the command: it prints the summary and returns an exit code.
Any Beam pipeline option is accepted next to the job's own (`--runner`,
`--direct_running_mode=multi_processing --direct_num_workers=N`, ...).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from docexit.pipeline.build import build_pipeline, resolve_spec
from docexit.pipeline.defaults import MissingModelError
from docexit.pipeline.options import DocexitOptions
from docexit.pipeline.summary import RunSummary, query_metrics, summarize
from docexit.transforms.io import NoMatchError, check_patterns

LOG = logging.getLogger(__name__)


# Tesseract's OpenMP threads make it 2-3x slower on few cores; no hub access in batch runs.
BATCH_ENVIRONMENT = {
    "OMP_THREAD_LIMIT": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


class UsageError(ValueError):
    """The job cannot start: bad options, no matching input, no model."""


def run(argv: list[str] | None = None, test_pipeline: beam.Pipeline | None = None) -> RunSummary:
    """Build and run the job; block until it finishes; return what it wrote."""
    options = PipelineOptions(argv if argv is not None else sys.argv[1:])
    try:
        spec = resolve_spec(options)
        check_patterns(spec.inputs)
    except (NoMatchError, MissingModelError, FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from error
    pipeline = build_pipeline(options, spec, test_pipeline)
    LOG.info("running on %d input patterns -> %s", len(spec.inputs), spec.output)
    start = time.perf_counter()
    result = pipeline.run()
    result.wait_until_finish()
    seconds = time.perf_counter() - start
    metrics = query_metrics(result)
    if spec.skip_existing is not None:  # a counter never incremented is not reported
        metrics.setdefault("skipped_existing", 0)
    return summarize(spec.row_files, spec.dead_letter_files, seconds, metrics)


def help_text() -> str:
    """Help for the job's own options (Beam's are documented by Beam)."""
    parser = argparse.ArgumentParser(
        prog="docexit run",
        description=__doc__.split("\n\n")[0],
        epilog="Any Beam pipeline option is also accepted, e.g. --runner, "
        "--direct_running_mode=multi_processing --direct_num_workers=2.",
    )
    DocexitOptions._add_argparse_args(parser)
    return parser.format_help()


def main(argv: list[str] | None = None) -> int:
    """The `docexit run` command; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if "-h" in argv or "--help" in argv:
        print(help_text())
        return 0
    for name, value in BATCH_ENVIRONMENT.items():  # inherited by Beam's worker processes
        os.environ.setdefault(name, value)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("docexit").setLevel(logging.INFO)
    try:
        summary = run(argv)
    except UsageError as error:
        print(f"docexit run: error: {error}", file=sys.stderr)
        return 2
    if not PipelineOptions(argv).view_as(DocexitOptions).no_summary:
        print(summary.format())
    return 0


if __name__ == "__main__":
    sys.exit(main())
