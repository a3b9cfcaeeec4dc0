"""`DocexitOptions`: the job's own options, parsed alongside every Beam pipeline option."""

from __future__ import annotations

import argparse

from apache_beam.options.pipeline_options import PipelineOptions

from docexit.transforms.decode import DEFAULT_DPI, DEFAULT_MAX_PAGES, DEFAULT_MAX_PIXELS
from docexit.transforms.existing import AUTO
from docexit.transforms.inference import POLICY_CHOICES

DEFAULT_OUTPUT = "out/run"
DEFAULT_OCR_TIMEOUT = 120.0  # seconds; a 1700 x 2200 page takes about 2 s on one core
DEFAULT_MAX_FAILURE_SHARE = 0.5  # more than half the inputs failing means something is broken
# Pages RunInference's BatchElements starts each bundle's batches at: its adaptive sizing
# starts there (default 1 gave the engine batches of about 2 pages, nothing to refill from);
# `docexit run` reports the batches the engine got (Beam distribution `engine_batch_pages`).
DEFAULT_MIN_BATCH_SIZE = 32
DEFAULT_VISION_BATCH_SIZE = 16  # pages per image-CNN batch: whole page images wait in it


class DocexitOptions(PipelineOptions):
    """Options of `docexit run` (see `docexit run --help`)."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        _add_io_arguments(parser.add_argument_group("input and output"))
        _add_decode_arguments(parser.add_argument_group("decoding"))
        _add_ocr_arguments(parser.add_argument_group("OCR"))
        model = parser.add_argument_group("model and exit policy")
        _add_model_arguments(model)
        _add_batching_arguments(model)
        _add_run_arguments(parser.add_argument_group("run"))


def _add_io_arguments(group: argparse._ArgumentGroup) -> None:
    """Inputs, the output folder and incremental runs."""
    group.add_argument(
        "--input",
        action="append",
        default=None,
        metavar="PATTERN",
        help="file or glob, local or gs://; repeatable. Default: the bundled sample pages",
    )
    group.add_argument(
        "--output",
        default=DEFAULT_OUTPUT,
        metavar="FOLDER",
        help="the run's output folder: FOLDER/rows/, FOLDER/dead_letters/, FOLDER/manifest/ "
        "(Parquet) and FOLDER/_SUCCESS (counts), written last; a rerun into the same folder "
        "replaces all of them (default: %(default)s)",
    )
    group.add_argument(
        "--skip-existing",
        action="append",
        nargs="?",
        const=AUTO,
        default=None,
        metavar="PATH_OR_PATTERN",
        help="incremental run: skip input files that earlier runs finished without dead "
        "letters and whose path, size and modification time (gs://: update time) are "
        "unchanged, from the listing alone (skipped files are not read). Values: a run "
        "folder, a folder of run folders, or manifest Parquet files (glob); local or gs://; "
        "repeatable. Without a value: the run folders beside --output (e.g. "
        "--output=.../nightly/DATE reads .../nightly/*/manifest/). Runs without _SUCCESS "
        "and --output's own folder never count",
    )
    group.add_argument(
        "--num-shards",
        type=int,
        default=0,
        help="Parquet files in rows/; 0: the runner chooses (default: %(default)s)",
    )


def _add_decode_arguments(group: argparse._ArgumentGroup) -> None:
    """How files become page images, and their limits."""
    group.add_argument(
        "--dpi",
        type=int,
        default=DEFAULT_DPI,
        help="PDF render resolution (default: %(default)s)",
    )
    group.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help="largest page accepted, in pixels (default: %(default)s)",
    )
    group.add_argument(
        "--max-pages",
        type=int,
        default=DEFAULT_MAX_PAGES,
        help="largest page count accepted per file (default: %(default)s)",
    )


def _add_ocr_arguments(group: argparse._ArgumentGroup) -> None:
    """How Tesseract reads a page."""
    group.add_argument(
        "--ocr-backend",
        default="auto",
        choices=("auto", "tesserocr", "pytesseract"),
        help="Tesseract binding (default: %(default)s)",
    )
    group.add_argument("--ocr-lang", default="eng", help="Tesseract languages (default: eng)")
    group.add_argument("--ocr-psm", type=int, default=3, help="Tesseract page segmentation mode")
    group.add_argument(
        "--ocr-max-side",
        type=int,
        default=None,
        help="downscale pages whose long side exceeds this before OCR (default: no)",
    )
    group.add_argument(
        "--ocr-min-dpi",
        type=int,
        default=None,
        help="upscale pages scanned below this resolution before OCR, at most 4x (default: "
        "no); low-resolution archive scans (~90 dpi) read better at 180",
    )
    group.add_argument(
        "--ocr-timeout",
        type=float,
        default=DEFAULT_OCR_TIMEOUT,
        metavar="SECONDS",
        help="stop the OCR of a page after this long; the page becomes a dead letter "
        "(stage ocr). 0 = no limit (default: %(default)s)",
    )


def _add_model_arguments(group: argparse._ArgumentGroup) -> None:
    """The checkpoint, its exit policy, and which pages leave before OCR or go to review."""
    group.add_argument(
        "--model",
        default=None,
        metavar="DIR",
        help="checkpoint folder (default: bundled model)",
    )
    group.add_argument(
        "--policy",
        default=None,
        help=f"exit policy: one of {', '.join(POLICY_CHOICES)}, or a JSON policy dict "
        "(default: the checkpoint's)",
    )
    group.add_argument(
        "--threshold",
        default=None,
        help="the policy's threshold (per_exit: one per exit, comma-separated; patience: int)",
    )
    group.add_argument(
        "--force-ocr",
        action="store_true",
        help="OCR every page: no exit before OCR (for users who need the text downstream)",
    )
    group.add_argument(
        "--min-confidence",
        type=float,
        default=0.0,
        help="mark pages whose calibrated confidence is below this for review (the `review` "
        "column), e.g. to route them to a person; 0 (default) marks none",
    )
    group.add_argument(
        "--keep-ocr",
        action="store_true",
        help="add `words` and `boxes` columns (the OCR words and their 0-1000 boxes, as fed "
        "to the model; empty lists for pages that skipped OCR) to every row",
    )
    group.add_argument(
        "--visual-threshold",
        type=float,
        default=None,
        help="calibrated confidence at which a page skips OCR on its image alone "
        "(default: the checkpoint's, chosen on validation)",
    )


def _add_batching_arguments(group: argparse._ArgumentGroup) -> None:
    """Batching, devices and threads of inference."""
    group.add_argument(
        "--batch-size",
        type=int,
        default=128,
        help="pages per RunInference batch: the most it hands the early-exit engine at once "
        "(default: 128)",
    )
    group.add_argument(
        "--min-batch-size",
        type=int,
        default=DEFAULT_MIN_BATCH_SIZE,
        help="pages per RunInference batch at the least, but for the last batch of a bundle "
        "(Beam's adaptive BatchElements grows from it up to --batch-size; with 1 the engine got "
        "batches of about 2 pages, too few for waiting pages to refill it) "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--device", default="auto", help="torch device: auto, cpu, cuda, cuda:N (default: auto)"
    )
    group.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch intra-op threads per worker (default: 1 on CPU, where a worker OCRs and "
        "classifies one page after the other and runs one per core; torch's own on GPU)",
    )
    group.add_argument(
        "--engine-step-size",
        type=int,
        default=None,
        help="rows the early-exit engine keeps in flight per layer step: pages that exit "
        "leave, waiting pages of the batch refill (default: 8 on CPU, 32 on GPU)",
    )
    group.add_argument(
        "--vision-batch-size",
        type=int,
        default=DEFAULT_VISION_BATCH_SIZE,
        help="pages per batch of the image CNN before OCR (whole page images wait in it; "
        "default: %(default)s)",
    )
    group.add_argument(
        "--model-copies",
        type=int,
        default=None,
        help="share N model copies across the worker processes of a machine (default: one "
        "model per process)",
    )
    group.add_argument(
        "--max-tokens", type=int, default=512, help="tokens per page, incl. [CLS]/[SEP]"
    )


def _add_run_arguments(group: argparse._ArgumentGroup) -> None:
    """Progress, summary, failure share and crash isolation."""
    group.add_argument(
        "--progress-every", type=int, default=25, help="log OCR progress every N pages"
    )
    group.add_argument(
        "--no-summary", action="store_true", default=False, help="do not print the summary"
    )
    group.add_argument(
        "--max-failure-share",
        type=float,
        default=DEFAULT_MAX_FAILURE_SHARE,
        metavar="SHARE",
        help="fail the job (exit code 3, outputs kept) when dead letters / (rows + dead "
        "letters) exceeds this: a sign of a broken deployment rather than bad files. "
        "1 = never (default: %(default)s)",
    )
    group.add_argument(
        "--isolate-native-crashes",
        action="store_true",
        default=False,
        help="decode and OCR in a child process per worker (Beam's use_subprocess "
        "exception handling): a crash in native code (libtiff, PDFium, Tesseract) becomes a "
        "dead letter instead of failing the bundle; an OCR call still running at "
        "2 x --ocr-timeout + 10 s is killed. Costs throughput; those steps' metrics are "
        "not reported (the summary counts at the sinks)",
    )
