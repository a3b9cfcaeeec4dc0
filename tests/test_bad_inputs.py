"""Nothing lost: bad inputs, native crashes, retries, failure share and startup checks.

A corpus of bad and awkward files (docexit.benchmarks.bad_inputs, generated here, never
committed) runs through the real pipeline together with good pages: one run with the good pages
alone, one with everything, one with everything and `--isolate-native-crashes`. Each kind is then
checked in its own case against that one run.
"""

from __future__ import annotations

import ctypes
import faulthandler
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from docexit.benchmarks.bad_inputs import KINDS, BadInput, write_bad_inputs
from docexit.pipeline.build import ClassifyDocuments, parquet_metadata, resolve_spec
from docexit.pipeline.run import FailureShareError, UsageError, main, run
from docexit.transforms.dofns import RunStage, printable_path
from docexit.transforms.sinks import (
    ROWS_SCHEMA,
    WriteParquet,
    read_parquet,
    row_sort_key,
    with_metadata,
)

GOOD = ("memo_0000.png", "letter_0000.tif", "scientific_publication_0000.pdf")
FAST_ARGS = ["--dpi", "100", "--batch-size", "4"]
TIMING = ("ocr_ms", "inference_ms")


@pytest.fixture(scope="module")
def corpus(synth_pages: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One folder: the good files and one bad or awkward file of every kind."""
    folder = tmp_path_factory.mktemp("archive")
    for name in GOOD:
        shutil.copy(synth_pages / "images" / name, folder / name)
    pages = []
    for line in (synth_pages / "ground_truth.jsonl").read_text().splitlines():
        row = json.loads(line)
        if Path(row["file"]).name in GOOD:
            pages.append((str(folder / Path(row["file"]).name), row["page"]))
    bad = write_bad_inputs(folder, len(KINDS), seed=0)
    return {"folder": folder, "good_pages": sorted(pages), "bad": bad}


def job_args(inputs: list[str], model: Path, output: Path, *extra: str) -> list[str]:
    argv = [arg for pattern in inputs for arg in ("--input", pattern)]
    return [*argv, "--output", str(output / "pages"), "--model", str(model), *FAST_ARGS, *extra]


def run_job(argv: list[str]) -> dict[str, Any]:
    summary = run(argv, test_pipeline=BeamTestPipeline(argv=argv))
    rows = sorted(read_parquet(summary.row_files).to_pylist(), key=row_sort_key)
    dead = read_parquet(summary.dead_letter_files).to_pylist()
    return {"summary": summary, "rows": rows, "dead": sorted(dead, key=lambda d: d["source"])}


@pytest.fixture(scope="module")
def baseline(
    corpus: dict[str, Any], tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The good files alone."""
    inputs = [str(corpus["folder"] / name) for name in GOOD]
    return run_job(job_args(inputs, tiny_model_dir, tmp_path_factory.mktemp("baseline")))


@pytest.fixture(scope="module")
def mixed(
    corpus: dict[str, Any], tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Everything in the folder: good files, bad files, awkward files."""
    output = tmp_path_factory.mktemp("mixed")
    result = run_job(job_args([str(corpus["folder"] / "*")], tiny_model_dir, output))
    return result | {"output": output}


@pytest.fixture(scope="module")
def isolated(
    corpus: dict[str, Any], tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The same, with decode and OCR in child processes."""
    output = tmp_path_factory.mktemp("isolated")
    pattern = str(corpus["folder"] / "*")
    return run_job(job_args([pattern], tiny_model_dir, output, "--isolate-native-crashes"))


def untimed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def assert_same_rows(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Equal rows; confidences may differ in float noise (pages batched differently)."""
    assert [(r["source"], r["page"]) for r in got] == [(r["source"], r["page"]) for r in expected]
    for g, e in zip(untimed(got), untimed(expected), strict=True):
        assert g["confidence"] == pytest.approx(e["confidence"], rel=1e-5, abs=1e-6)
        assert g | {"confidence": 0} == e | {"confidence": 0}


def source_of(item: BadInput) -> str:
    return printable_path(str(item.path))


# --- the corpus through the real pipeline --------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_ends_where_it_should(
    kind: str, corpus: dict[str, Any], mixed: dict[str, Any]
) -> None:
    items = [item for item in corpus["bad"] if item.kind == kind]
    if not items:
        pytest.skip(f"this filesystem cannot hold a {kind} file")
    for item in items:
        source = source_of(item)
        rows = [r for r in mixed["rows"] if r["source"] == source]
        dead = [d for d in mixed["dead"] if d["source"] == source]
        if item.stage is None:
            assert not dead, dead
            assert [r["page"] for r in rows] == list(range(item.pages))
            if kind in ("blank_page", "no_text_page"):
                assert all(r["word_count"] <= 3 for r in rows), rows  # no text, still a page
        else:
            assert not rows, rows
            (letter,) = dead
            if item.stage == "decode":  # the whole file; the message names it
                assert (letter["stage"], letter["page"], letter["error_type"]) == (
                    "decode",
                    None,
                    "DecodeError",
                )
                assert source in letter["error_message"]
            else:  # a page Tesseract cannot read
                assert (letter["stage"], letter["page"], letter["error_type"]) == (
                    "ocr",
                    0,
                    "OcrError",
                )
                assert "--ocr-max-side" in letter["error_message"]


@pytest.mark.slow
def test_non_utf8_name_is_kept_readable(corpus: dict[str, Any], mixed: dict[str, Any]) -> None:
    (item,) = [item for item in corpus["bad"] if item.kind == "non_utf8_name"] or [None]
    if item is None:
        pytest.skip("this filesystem refuses file names that are not UTF-8")
    (row,) = [r for r in mixed["rows"] if "non_utf8_name" in r["source"]]
    assert row["source"] == source_of(item) and "r\\xe9sum\\xe9" in row["source"]


@pytest.mark.slow
def test_good_pages_unchanged_by_bad_ones(
    corpus: dict[str, Any], baseline: dict[str, Any], mixed: dict[str, Any]
) -> None:
    assert [(r["source"], r["page"]) for r in baseline["rows"]] == corpus["good_pages"]
    good_sources = {source for source, _ in corpus["good_pages"]}
    assert_same_rows([r for r in mixed["rows"] if r["source"] in good_sources], baseline["rows"])
    assert baseline["dead"] == []


@pytest.mark.slow
def test_counts_add_up(corpus: dict[str, Any], mixed: dict[str, Any]) -> None:
    bad: list[BadInput] = corpus["bad"]
    failing = [item for item in bad if item.stage is not None]
    expected_rows = len(corpus["good_pages"]) + sum(item.pages for item in bad)
    summary = mixed["summary"]
    assert (summary.pages, summary.total_dead_letters) == (expected_rows, len(failing))
    assert summary.inputs == len(mixed["rows"]) + len(mixed["dead"]) == expected_rows + len(failing)
    stages = {stage: sum(item.stage == stage for item in bad) for stage in ("decode", "ocr")}
    assert summary.dead_letters == stages
    assert summary.metrics["files_in"] == len(GOOD) + len(bad)
    assert summary.metrics["pages_out"] == expected_rows
    assert summary.metrics["pages_in"] == expected_rows + stages["ocr"]  # decoded, then failed
    assert len({(r["source"], r["page"]) for r in mixed["rows"]}) == len(mixed["rows"])
    assert f"in: {summary.inputs} = {expected_rows} rows + {len(failing)} dead" in summary.format()
    assert not list(mixed["output"].glob("*probe*")), "the write probe was left behind"


# --- isolation from native crashes ---------------------------------------------------------


@pytest.mark.slow
def test_isolated_run_gives_the_same_outputs(
    mixed: dict[str, Any], isolated: dict[str, Any]
) -> None:
    assert_same_rows(isolated["rows"], mixed["rows"])
    assert isolated["dead"] == mixed["dead"]


@dataclass(frozen=True)
class FakePage:
    """Stands for a page element (source, page) in the crash test."""

    source: str
    page: int


class CrashOnMarkedPagesFn(beam.DoFn):
    """Test-only: a real segfault (read of address 0) or a hang on marked pages."""

    def process(self, page: FakePage) -> Any:
        if page.source == "segfault":
            faulthandler.disable()  # this child dies quietly (pytest's handler would dump)
            ctypes.string_at(0)  # SIGSEGV in native code
        if page.source == "hang":
            time.sleep(60)
        yield f"{page.source}#{page.page}"


@pytest.mark.slow
def test_native_crash_and_hang_become_dead_letters_when_isolated() -> None:
    pages = [FakePage("a", 0), FakePage("segfault", 3), FakePage("b", 1), FakePage("hang", 0)]
    with BeamTestPipeline() as pipeline:
        out = (
            pipeline
            | beam.Create(pages)
            | RunStage(CrashOnMarkedPagesFn(), "ocr", isolate=True, timeout=3)
        )
        letters = out.dead_letters | beam.Map(lambda d: (d.source, d.page, d.stage, d.error_type))
        assert_that(out.main, equal_to(["a#0", "b#1"]), label="TheOthersGoOn")
        assert_that(
            letters,
            equal_to(
                [("segfault", 3, "ocr", "BrokenProcessPool"), ("hang", 0, "ocr", "TimeoutError")]
            ),
            label="CrashAndHangAreDeadLetters",
        )


# --- retries -------------------------------------------------------------------------------


class FailFirstAttempt(beam.DoFn):
    """Test-only: passes rows on, but the first attempt of the first bundle fails half-way
    (after emitting rows), as a worker that dies would; the flag file marks that it happened."""

    def __init__(self, flag: str) -> None:
        self._flag = flag

    def process(self, row: dict[str, Any]) -> Any:
        yield row
        if not os.path.exists(self._flag):
            Path(self._flag).write_text("failed once")
            raise RuntimeError("injected failure on the first attempt")


@pytest.mark.slow
def test_retried_bundle_gives_no_duplicate_rows(
    corpus: dict[str, Any], baseline: dict[str, Any], tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The BundleBasedDirectRunner retries a failed bundle (up to 4 attempts) and keeps only the
    outputs of the attempt that succeeds; the rows written must be the baseline's, once each."""
    inputs = [str(corpus["folder"] / name) for name in GOOD]
    argv = job_args(
        inputs, tiny_model_dir, tmp_path, "--runner=BundleBasedDirectRunner", "--num-shards", "2"
    )
    options = PipelineOptions(argv)
    spec = resolve_spec(options)
    flag = tmp_path / "failed-once"
    with beam.Pipeline(options=options) as pipeline:
        rows = (pipeline | ClassifyDocuments(spec)).rows
        _ = (
            rows
            | "FailFirstAttempt" >> beam.ParDo(FailFirstAttempt(str(flag)))
            | WriteParquet(
                str(tmp_path / "retried" / "part"),
                with_metadata(ROWS_SCHEMA, parquet_metadata(spec)),
                num_shards=2,
            )
        )
    assert flag.is_file(), "the failure was not injected"
    files = sorted(str(p) for p in (tmp_path / "retried").iterdir())
    assert len(files) == 2 and all(f.endswith("-of-00002.parquet") for f in files)
    written = sorted(read_parquet(files).to_pylist(), key=row_sort_key)
    assert_same_rows(written, baseline["rows"])


# --- failure share -------------------------------------------------------------------------


@pytest.mark.slow
def test_failure_share_fails_the_job_but_keeps_the_outputs(
    corpus: dict[str, Any], tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A 1 ms OCR timeout (a broken deployment): every page and bad file fails, exit code 3."""
    failing = [str(item.path) for item in corpus["bad"] if item.stage is not None][:2]
    inputs = [str(corpus["folder"] / "memo_0000.png"), *failing]
    argv = job_args(inputs, tiny_model_dir, tmp_path, "--ocr-timeout", "0.001")
    assert main(argv) == 3
    captured = capsys.readouterr()
    assert "3 of 3 inputs failed (100.0%), more than --max-failure-share 0.5" in captured.err
    assert "in: 3 = 0 rows + 3 dead letters" in captured.out
    dead = read_parquet(sorted(map(str, (tmp_path / "pages/dead_letters").iterdir()))).to_pylist()
    stages = sorted((d["stage"], d["error_type"]) for d in dead)
    assert stages == [("decode", "DecodeError")] * 2 + [("ocr", "OcrTimeoutError")]
    (ocr_letter,) = [d for d in dead if d["stage"] == "ocr"]
    assert "--ocr-timeout" in ocr_letter["error_message"] and ocr_letter["page"] == 0
    assert pq.read_table(tmp_path / "pages" / "rows").num_rows == 0

    with pytest.raises(FailureShareError) as failed:  # run() raises, with what was written
        run(job_args(inputs, tiny_model_dir, tmp_path / "again", "--ocr-timeout", "0.001"))
    assert failed.value.summary.failure_share == 1.0
    summary = run(
        job_args(failing, tiny_model_dir, tmp_path / "lenient", "--max-failure-share", "1")
    )
    assert summary.total_dead_letters == 2  # 1 = never fail


# --- startup checks ------------------------------------------------------------------------


def usage_error(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    """main()'s exit code must be 2 (nothing ran); returns its error message."""
    assert main(argv) == 2
    return capsys.readouterr().err


def test_tesseract_missing_is_a_usage_error(
    corpus: dict[str, Any],
    tiny_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without the tesseract binary
    argv = job_args([str(corpus["folder"] / "*")], tiny_model_dir, tmp_path)
    message = usage_error([*argv, "--ocr-backend", "pytesseract"], capsys)
    assert "OCR is not available" in message and "install tesseract-ocr" in message
    assert not (tmp_path / "pages" / "rows").exists()


def test_language_pack_missing_is_a_usage_error(
    corpus: dict[str, Any], tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = job_args([str(corpus["folder"] / "*")], tiny_model_dir, tmp_path, "--ocr-lang", "zzz")
    assert "install tesseract-ocr-zzz" in usage_error(argv, capsys)


@pytest.mark.parametrize("damage", ["truncated_weights", "config_not_json", "no_weights"])
def test_corrupt_model_is_a_usage_error(
    damage: str,
    corpus: dict[str, Any],
    tiny_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    weights = model / "model.safetensors"
    if damage == "truncated_weights":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "config_not_json":
        (model / "config.json").write_text("{ not json")
    else:
        weights.unlink()
    argv = job_args([str(corpus["folder"] / "*")], model, tmp_path)
    message = usage_error(argv, capsys)
    assert f"the model checkpoint {model} cannot be loaded" in message


def test_unwritable_output_is_a_usage_error(
    corpus: dict[str, Any], tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # the output's parent "folder" is a file: nothing can go under it
    argv = job_args([str(corpus["folder"] / "*")], tiny_model_dir, blocker / "out")
    assert "cannot write the outputs at --output" in usage_error(argv, capsys)


def test_output_folder_is_created_and_left_clean(tmp_path: Path) -> None:
    from docexit.pipeline.run import check_output_writable

    check_output_writable(str(tmp_path / "new" / "deeper"))
    assert (tmp_path / "new" / "deeper").is_dir()
    assert list((tmp_path / "new" / "deeper").iterdir()) == []


def test_failure_share_must_be_a_share(
    corpus: dict[str, Any], tiny_model_dir: Path, tmp_path: Path
) -> None:
    argv = job_args([str(corpus["folder"] / "*")], tiny_model_dir, tmp_path)
    with pytest.raises(UsageError, match="--max-failure-share must be within 0-1"):
        run([*argv, "--max-failure-share", "1.5"])
