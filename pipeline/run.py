"""`docexit run`: classify scanned pages into Parquet (see `docexit run --help`).

`run(argv, test_pipeline=None)` builds and runs the job and returns its `RunSummary`; tests pass
a `TestPipeline`. `main(argv)` is the command: it prints the summary and returns an exit code:
0 done, 2 the job could not start (`UsageError`: bad or unknown options, ...), 3 it ran but more
than `--max-failure-share` of its inputs failed (`FailureShareError`; the outputs are written),
4 the job failed while running, e.g. its outputs could not be written (`JobFailedError`; the
output folder keeps the previous complete run, if any).
Any Beam pipeline option is accepted next to the job's own (`--runner`,
`--direct_running_mode=multi_processing --direct_num_workers=N`, ...).

Before the pipeline starts, `startup_checks` fails fast with a clear message on: a model folder
that is missing or does not load, Tesseract or its language pack missing (when the workers run
on this machine), an output location that cannot be written, a model folder without the
tokenizer of its vocabulary.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions, StandardOptions

from docexit.pipeline import defaults
from docexit.pipeline.build import JobSpec, build_pipeline, resolve_spec
from docexit.pipeline.defaults import MissingModelError
from docexit.pipeline.option_check import check_options
from docexit.pipeline.options import DocexitOptions
from docexit.pipeline.summary import RunSummary, query_metrics, summarize
from docexit.transforms.io import NoMatchError, check_patterns
from docexit.transforms.ocr import OcrConfig, OcrUnavailableError, check_ocr_available

LOG = logging.getLogger(__name__)


# Tesseract's OpenMP threads make it 2-3x slower on few cores; no hub access in batch runs.
BATCH_ENVIRONMENT = {
    "OMP_THREAD_LIMIT": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


USAGE_EXIT = 2
FAILURE_SHARE_EXIT = 3
JOB_FAILED_EXIT = 4


class UsageError(ValueError):
    """The job cannot start: bad options, no matching input, no usable model, no Tesseract or
    language pack, an output location that cannot be written."""


class JobFailedError(RuntimeError):
    """The job started but failed (e.g. a write failed); no `_SUCCESS` of this run."""


class FailureShareError(RuntimeError):
    """The job ran and wrote its outputs, but more than `--max-failure-share` of inputs failed."""

    def __init__(self, summary: RunSummary, limit: float) -> None:
        self.summary = summary
        self.limit = limit
        super().__init__(
            f"{summary.total_dead_letters} of {summary.inputs} inputs failed "
            f"({summary.failure_share:.1%}), more than --max-failure-share {limit:g}: a broken "
            "deployment (Tesseract, model, storage) rather than bad files? The outputs were "
            f"written; the dead letters say why: {summary.output}/dead_letters/"
        )


def run(argv: list[str] | None = None, test_pipeline: beam.Pipeline | None = None) -> RunSummary:
    """Build and run the job; block until it finishes; return what it wrote.

    Raises UsageError before anything runs, JobFailedError when the job fails while running,
    and FailureShareError after the run (outputs written) when dead letters / (rows + dead
    letters) exceeds `--max-failure-share`, counted from the job's metrics on any runner `run`
    waits for (Dataflow included). A launcher that only submits (deploy/dataflow/flex_main.py)
    checks it at the end of the job: `summary.failure_share_from_metrics`.
    """
    argv = list(argv if argv is not None else sys.argv[1:])
    options = PipelineOptions(argv)
    opts = options.view_as(DocexitOptions)
    FileSystems.set_options(options)  # gs:// options for the checks below
    try:
        check_options(argv)
        if not 0.0 <= opts.max_failure_share <= 1.0:
            raise ValueError(
                f"--max-failure-share must be within 0-1, got {opts.max_failure_share}"
            )
        opts.model = usable_model_dir(opts.model or str(defaults.bundled_model_dir()))
        check_model(opts.model)
        spec = resolve_spec(options)
        check_patterns(spec.inputs)
        startup_checks(options, spec)
    except (NoMatchError, MissingModelError, FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from error
    pipeline = build_pipeline(options, spec, test_pipeline)
    LOG.info("running on %d input patterns -> %s", len(spec.inputs), spec.output)
    start = time.perf_counter()
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except Exception as error:  # noqa: BLE001 - any failure of the running job
        raise JobFailedError(job_failure_message(error, spec.output)) from error
    seconds = time.perf_counter() - start
    metrics = query_metrics(result)
    if spec.skip_existing is not None:  # a counter never incremented is not reported
        metrics.setdefault("skipped_existing", 0)
    summary = summarize(spec.output, seconds, metrics)
    if summary.failure_share > opts.max_failure_share:
        raise FailureShareError(summary, opts.max_failure_share)
    return summary


def job_failure_message(error: BaseException, output: str) -> str:
    """One readable line for a failed job: the innermost error's last line."""
    cause: BaseException = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    lines = [line for line in str(cause).strip().splitlines() if line.strip()]
    detail = lines[-1].strip() if lines else type(cause).__name__
    return (
        f"the job failed while running: {detail[:500]}. This run was not committed; {output} "
        "holds a complete run only where its _SUCCESS is"
    )


# --- startup checks -----------------------------------------------------------------------------


def usable_model_dir(model_dir: str) -> str:
    """`model_dir`, or for a plain transformers LayoutLMv3 classification folder its docexit
    import (done once, cached under the docexit cache folder; full depth, no exits)."""
    from docexit.models.hf_import import cached_import, is_layoutlmv3_folder

    if not is_layoutlmv3_folder(model_dir):
        return model_dir
    imported = cached_import(model_dir, defaults.cache_dir() / "imported")
    LOG.info(
        "%s is a transformers LayoutLMv3 folder: imported on the fly into %s (full depth, no "
        "exits; `docexit import` and `docexit train --from-model` add them)",
        model_dir,
        imported,
    )
    return str(imported)


def check_model(model_dir: str) -> Any:
    """The checkpoint loads (config.json + model.safetensors present, valid and matching) and
    its folder holds the tokenizer of its vocabulary; returns the loaded model."""
    from docexit.models.checkpoint import CheckpointError, load_checkpoint
    from docexit.models.tokenizer import check_model_tokenizer
    from docexit.transforms.featurize import TokenizerError

    if not (Path(model_dir) / "config.json").is_file():
        raise FileNotFoundError(f"no model checkpoint at {model_dir} (missing config.json)")
    try:
        model = load_checkpoint(model_dir)
        check_model_tokenizer(model_dir, model.config.backbone)
    except (CheckpointError, TokenizerError) as error:
        raise ValueError(f"the model checkpoint {model_dir} cannot be loaded: {error}") from error
    bad = non_finite_parameters(model)
    if bad:
        raise ValueError(
            f"the model checkpoint {model_dir} has non-finite weights (NaN or inf) in "
            f"{len(bad)} tensors, e.g. {', '.join(bad[:3])}: it would fail every page"
        )
    return model


def non_finite_parameters(model: Any) -> list[str]:
    """Names of the model's parameters and buffers that hold NaN or inf."""
    import torch

    named = [*model.named_parameters(), *model.named_buffers()]
    return [
        name
        for name, tensor in named
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]


def workers_run_here(options: PipelineOptions) -> bool:
    """Whether the job's workers run on this machine (DirectRunner, Prism, LOOPBACK workers)."""
    runner = str(options.view_as(StandardOptions).runner or "DirectRunner").lower()
    if "direct" in runner or "prism" in runner:
        return True
    environment = options.view_as(PortableOptions).environment_type or ""
    return environment.upper() == "LOOPBACK"


def check_ocr(spec: JobSpec) -> None:
    """Tesseract (the chosen backend) and every language pack the job asks for are installed."""
    try:
        check_ocr_available(OcrConfig(**spec.ocr_config))
    except OcrUnavailableError as error:
        raise ValueError(f"OCR is not available: {error}") from error


def check_output_writable(output: str) -> None:
    """A probe file in the output folder can be created and deleted (local or any Beam
    filesystem; a local folder is created)."""
    probe = f"{output}/_write-probe-{uuid.uuid4().hex}"
    try:
        if "://" not in output:
            Path(output).mkdir(parents=True, exist_ok=True)
        with FileSystems.create(probe) as stream:
            stream.write(b"docexit")
        FileSystems.delete([probe])
    except Exception as error:  # noqa: BLE001 - any failure means the job cannot write
        raise ValueError(
            f"cannot write the outputs at --output {output}: {type(error).__name__}: {error}"
        ) from error


def startup_checks(options: PipelineOptions, spec: JobSpec) -> None:
    """Everything the job needs before any worker starts (the model is checked earlier)."""
    if workers_run_here(options):
        check_ocr(spec)
    else:
        LOG.info("OCR not checked here: the workers' image must have Tesseract and its languages")
    check_output_writable(spec.output)


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
    show_summary = not PipelineOptions(argv).view_as(DocexitOptions).no_summary
    try:
        summary = run(argv)
    except UsageError as error:
        print(f"docexit run: error: {error}", file=sys.stderr)
        return USAGE_EXIT
    except JobFailedError as error:
        print(f"docexit run: error: {error}", file=sys.stderr)
        return JOB_FAILED_EXIT
    except FailureShareError as error:
        if show_summary:
            print(error.summary.format())
        print(f"docexit run: error: {error}", file=sys.stderr)
        return FAILURE_SHARE_EXIT
    if show_summary:
        print(summary.format())
    return 0


if __name__ == "__main__":
    sys.exit(main())
