"""The Beam pipeline: real OCR on synthetic pages, the tiny trained model, Parquet read back."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to

from docexit.pipeline.build import ClassifyDocuments, resolve_spec
from docexit.pipeline.run import UsageError, help_text, main, run
from docexit.transforms.dead_letters import DEAD_LETTERS
from docexit.transforms.inference import resolve_policy
from docexit.transforms.sinks import (
    DEAD_LETTER_SCHEMA,
    ROWS_SCHEMA,
    WriteParquet,
    dead_letter_sort_key,
    with_metadata,
)

# One multi-page TIFF, one PDF, one PNG from the seed-0 synthetic corpus.
PICKED = ("letter_0000.tif", "scientific_publication_0000.pdf", "memo_0000.png")
FAST_ARGS = ["--dpi", "100", "--batch-size", "4"]  # synthetic PDFs are 100 DPI scans


@pytest.fixture(scope="module")
def inputs(synth_pages: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A folder with the picked files plus a corrupt PNG; the pages each file should give."""
    folder = tmp_path_factory.mktemp("inputs")
    for name in PICKED:
        shutil.copy(synth_pages / "images" / name, folder / name)
    good = (synth_pages / "images" / "email_0000.png").read_bytes()
    (folder / "corrupt.png").write_bytes(good[: len(good) // 3])  # truncated
    pages = []
    for line in (synth_pages / "ground_truth.jsonl").read_text().splitlines():
        row = json.loads(line)
        name = Path(row["file"]).name
        if name in PICKED:
            pages.append((str(folder / name), row["page"]))
    return {"folder": folder, "pages": sorted(pages), "corrupt": str(folder / "corrupt.png")}


def docexit_options(
    inputs: dict[str, Any], model_dir: Path, output: Path, *extra: str
) -> list[str]:
    return [
        "--input",
        str(inputs["folder"] / "*"),
        "--output",
        str(output / "pages"),
        "--model",
        str(model_dir),
        *FAST_ARGS,
        *extra,
    ]


def rows_match(expected_pages: list[tuple[str, int]], label_names: list[str]) -> Callable:
    """assert_that matcher: exactly the expected pages, each with a sane prediction."""

    def check(rows: list[dict[str, Any]]) -> None:
        keys = sorted((row["source"], row["page"]) for row in rows)
        if keys != expected_pages:
            raise BeamAssertException(f"pages {keys} != expected {expected_pages}")
        for row in rows:
            if row["label"] != label_names[row["label_id"]] or row["exit_layer"] not in (1, 2):
                raise BeamAssertException(f"bad row {row}")
            if not 0.0 < row["confidence"] <= 1.0 or row["num_layers"] != 2:
                raise BeamAssertException(f"bad row {row}")

    return check


@pytest.mark.slow
def test_classify_documents_with_test_pipeline(
    inputs: dict[str, Any], tiny_model_dir: Path, tmp_path: Path
) -> None:
    options = PipelineOptions(docexit_options(inputs, tiny_model_dir, tmp_path))
    spec = resolve_spec(options)
    pipeline = BeamTestPipeline(options=options)
    classified = pipeline | "ClassifyDocuments" >> ClassifyDocuments(spec)
    assert_that(
        classified.rows,
        rows_match(inputs["pages"], spec.meta["label_names"]),
        label="RowsAreTheExpectedPages",
    )
    dead = classified.dead_letters | beam.Map(lambda d: (d.source, d.page, d.stage, d.error_type))
    assert_that(
        dead,
        equal_to([(inputs["corrupt"], None, "decode", "DecodeError")]),
        label="CorruptFileIsADeadLetter",
    )
    result = pipeline.run()
    result.wait_until_finish()

    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace("docexit"))["counters"]
    }
    assert counters["files_in"] == len(PICKED) + 1
    assert counters["pages_in"] == len(inputs["pages"]) == counters["pages_out"]
    assert counters["dead_letters_decode"] == 1


@pytest.mark.slow
def test_run_writes_parquet(inputs: dict[str, Any], tiny_model_dir: Path, tmp_path: Path) -> None:
    argv = docexit_options(
        inputs, tiny_model_dir, tmp_path, "--num-shards", "2", "--min-confidence", "0.99"
    )
    summary = run(argv, test_pipeline=BeamTestPipeline(argv=argv))

    output = tmp_path / "pages"
    assert sorted(p.name for p in output.iterdir()) == [
        "_SUCCESS",
        "dead_letters",
        "manifest",
        "rows",
    ]
    assert [Path(f).name for f in summary.row_files] == [
        "part-00000-of-00002.parquet",
        "part-00001-of-00002.parquet",
    ]
    tables = [pq.read_table(f) for f in summary.row_files]
    for table in tables:
        assert table.schema.remove_metadata() == ROWS_SCHEMA
    metadata = tables[0].schema.metadata
    assert metadata[b"docexit.model_id"].startswith(tiny_model_dir.name.encode())
    policy = json.loads((tiny_model_dir / "config.json").read_text())["policy"]
    assert policy["name"] == "max_prob"
    assert json.loads(metadata[b"docexit.policy"]) == policy
    assert json.loads(metadata[b"docexit.exit_layers"]) == [1, 2]

    rows = [row for table in tables for row in table.to_pylist()]
    assert sorted((r["source"], r["page"]) for r in rows) == inputs["pages"]
    assert all(r["exit_policy"] == "max_prob" for r in rows)
    assert all(r["exit_threshold"] == pytest.approx(policy["threshold"]) for r in rows)
    assert all(r["token_count"] <= 64 and r["ocr_ms"] > 0 for r in rows)
    assert json.loads(metadata[b"docexit.min_confidence"]) == 0.99
    assert [r["review"] for r in rows] == [r["confidence"] < 0.99 for r in rows]
    assert any(r["review"] for r in rows)  # the tiny model is unsure of some pages
    dead = pq.read_table(output / "dead_letters")
    assert dead.schema.remove_metadata() == DEAD_LETTER_SCHEMA
    assert dead.column("source").to_pylist() == [inputs["corrupt"]]
    manifest = pq.read_table(output / "manifest").to_pylist()
    sizes = {str(p): p.stat().st_size for p in inputs["folder"].iterdir()}
    assert {m["source"]: m["size"] for m in manifest} == sizes
    assert {m["source"]: m["dead_letters"] for m in manifest if m["dead_letters"]} == {
        inputs["corrupt"]: 1
    }

    # The summary comes from the job's counters; _SUCCESS holds the same counts.
    assert summary.pages == len(inputs["pages"])
    assert summary.dead_letters == {"decode": 1}
    assert sum(summary.exit_layers.values()) == summary.pages
    assert sum(summary.label_counts.values()) == summary.pages
    assert "pages/s" in summary.format()
    marker = json.loads((output / "_SUCCESS").read_text())
    assert marker["counts"]["rows_written"] == summary.pages
    assert marker["counts"]["dead_letters_written_decode"] == 1
    assert marker["counts"]["manifest_files"] == len(sizes)
    assert marker["files"]["rows"] == [Path(f).name for f in summary.row_files]


def test_sink_writes_schema_and_an_empty_file(tmp_path: Path) -> None:
    rows = [
        {"source": "b", "page": None, "stage": "decode", "error_type": "E", "error_message": "m"},
        {"source": "a", "page": 2, "stage": "ocr", "error_type": "E", "error_message": "m"},
    ]
    schema = with_metadata(DEAD_LETTER_SCHEMA, {"docexit.run_id": "r1", "docexit.n": [1, 2]})
    with BeamTestPipeline() as pipeline:
        letters = pipeline | "Letters" >> beam.Create(rows)
        empty = pipeline | "Nothing" >> beam.Create([]).with_output_types(dict)
        names = letters | "WriteLetters" >> WriteParquet(str(tmp_path / "x" / "part"), schema)
        _ = empty | "WriteNothing" >> WriteParquet(str(tmp_path / "empty" / "part"), ROWS_SCHEMA)
        assert_that(
            names | beam.Map(lambda n: Path(n).parent.name), equal_to(["x"]), label="FinalNames"
        )
    written = pq.read_table(tmp_path / "x")
    assert sorted(written.to_pylist(), key=dead_letter_sort_key) == sorted(
        rows, key=dead_letter_sort_key
    )
    assert written.schema.metadata[b"docexit.run_id"] == b"r1"
    assert json.loads(written.schema.metadata[b"docexit.n"]) == [1, 2]
    (empty_file,) = (tmp_path / "empty").iterdir()
    table = pq.read_table(empty_file)
    assert table.num_rows == 0 and table.schema == ROWS_SCHEMA
    assert all(p.name.endswith(".parquet") for p in (tmp_path / "x").iterdir())  # no temp


def test_empty_match_is_a_clear_error(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    pattern = str(tmp_path / "nothing-*.png")
    with pytest.raises(UsageError, match="no input file matches"):
        run(["--input", pattern, "--model", str(tiny_model_dir)])
    assert main(["--input", pattern, "--model", str(tiny_model_dir)]) == 2
    assert pattern in capsys.readouterr().err


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no model checkpoint"):
        run(["--input", str(tmp_path), "--model", str(tmp_path / "missing")])


def test_help_names_the_options() -> None:
    text = help_text()
    for flag in (
        "--input",
        "--output",
        "--model",
        "--policy",
        "--threshold",
        "--batch-size",
        "--ocr-backend",
    ):
        assert flag in text


@pytest.mark.parametrize(
    ("name", "threshold", "expected"),
    [
        (None, None, {"name": "entropy", "threshold": 0.2, "num_exits": 3}),
        (None, "0.8", {"name": "entropy", "threshold": 0.8, "num_exits": 3}),
        ("max_prob", "0.9", {"name": "max_prob", "threshold": 0.9, "num_exits": 3}),
        ("per_exit", "0.9,0.8,0", {"name": "per_exit", "thresholds": [0.9, 0.8, 0.0]}),
        ("patience", "2", {"name": "patience", "patience": 2, "num_exits": 3}),
        (
            '{"name": "margin", "threshold": 0.3, "num_exits": 3}',
            None,
            {"name": "margin", "threshold": 0.3, "num_exits": 3},
        ),
    ],
)
def test_resolve_policy(name: str | None, threshold: str | None, expected: dict[str, Any]) -> None:
    model_policy = {"name": "entropy", "threshold": 0.2, "num_exits": 3}
    assert resolve_policy(model_policy, 3, name, threshold) == expected


def test_resolve_policy_errors() -> None:
    with pytest.raises(ValueError, match="needs --threshold"):
        resolve_policy({"name": "entropy", "threshold": 0.2, "num_exits": 3}, 3, "max_prob", None)
    with pytest.raises(ValueError, match="3 comma-separated"):
        resolve_policy(None, 3, "per_exit", "0.5")
    with pytest.raises(ValueError, match="unknown --policy"):
        resolve_policy(None, 3, "bogus", "0.5")


def test_dead_letter_tag_is_stable() -> None:
    assert DEAD_LETTERS == "dead_letters"


def test_runner_isolates_a_failing_page(tiny_model_dir: Path) -> None:
    import numpy as np

    from docexit.models.checkpoint import load_checkpoint
    from docexit.transforms.inference import EarlyExitRunner
    from docexit.transforms.records import PageFeatures

    def page(box_value: int) -> PageFeatures:
        bbox = np.full((3, 4), box_value, dtype=np.int64)
        pixels = np.zeros((3, 224, 224), dtype=np.float32)
        return PageFeatures(np.array([101, 2023, 102]), bbox, pixels)

    policy = json.loads((tiny_model_dir / "config.json").read_text())["policy"]
    runner = EarlyExitRunner(load_checkpoint(tiny_model_dir), policy, "cpu")
    good, bad, also_good = runner.classify([page(10), page(5000), page(20)])  # 5000: not 0-1000
    assert not good.failed and not also_good.failed
    assert good.exit_layer in (1, 2) and 0 < good.confidence <= 1
    assert bad.failed and bad.error_type


@pytest.mark.parametrize(("requested", "expected"), [(None, 1), (3, 3)])
def test_a_cpu_worker_runs_one_torch_thread_unless_told(
    tiny_model_dir: Path, requested: int | None, expected: int
) -> None:
    """A worker OCRs and classifies one page after the other, one worker per core: by default
    its model gets one torch thread, `--torch-threads N` gives it N."""
    import torch

    from docexit.models.device import worker_threads
    from docexit.transforms.inference import EarlyExitModelHandler

    policy = json.loads((tiny_model_dir / "config.json").read_text())["policy"]
    handler = EarlyExitModelHandler(
        str(tiny_model_dir), policy, device="cpu", torch_threads=requested
    )
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        handler.load_model()
        assert torch.get_num_threads() == expected
    finally:
        torch.set_num_threads(before)
    assert worker_threads(requested, "cuda:0") == requested  # GPU: torch's own default


def test_unknown_option_is_exit_code_2_naming_the_closest(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["--input", str(tmp_path), "--model", str(tiny_model_dir), "--outptu", "x"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "unknown option --outptu (did you mean --output?)" in err
    with pytest.raises(UsageError, match="--direct_num_workerz \\(did you mean --direct_num"):
        run(["--input", str(tmp_path), "--direct_num_workerz=2"])
    # Beam's own options and negative values are known.
    from docexit.pipeline.option_check import unknown_options

    assert unknown_options(["--direct_num_workers=2", "--threshold", "-0.5", "--runner", "x"]) == []


def test_pages_are_reshuffled_after_the_split(
    inputs: dict[str, Any], tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The pages of a multi-page file go through a Reshuffle between decode and OCR."""
    from docexit.pipeline.build import build_pipeline

    options = PipelineOptions(docexit_options(inputs, tiny_model_dir, tmp_path))
    pipeline = build_pipeline(options, resolve_spec(options))
    transforms = pipeline.to_runner_api().components.transforms.values()
    names = [t.unique_name for t in transforms]
    reshuffle = next(t for t in transforms if t.unique_name.endswith("/ReshufflePages"))
    decoded = set(reshuffle.inputs.values())
    decode = [n for n in names if n.endswith("/ReadAndDecode/Run/ParDo(ReadAndDecodeFn)")]
    assert decode, names
    producers = {
        pcoll for t in transforms if t.unique_name in decode for pcoll in t.outputs.values()
    }
    assert decoded <= producers  # it takes the decoded pages
    ocr_inputs = {
        pcoll for t in transforms if "/OCR/" in t.unique_name for pcoll in t.inputs.values()
    }
    assert not ocr_inputs & producers  # OCR never reads the decoded pages unshuffled


def test_the_shipped_model_runs_no_vision_stage(tmp_path: Path) -> None:
    """The bundled model has no visual threshold: every page is OCRed, and the job has no
    vision stage at all (no image CNN run for nothing); a threshold puts it back."""
    from docexit.pipeline.build import build_pipeline
    from docexit.pipeline.defaults import bundled_model_dir

    def step_names(*extra: str) -> set[str]:
        argv = ["--input", str(tmp_path / "*.png"), "--output", str(tmp_path / "out"), *extra]
        options = PipelineOptions(argv)
        pipeline = build_pipeline(options, resolve_spec(options), beam.Pipeline(options=options))
        proto = pipeline.to_runner_api()
        return {t.unique_name.split("/")[-1] for t in proto.components.transforms.values()}

    config = json.loads((bundled_model_dir() / "config.json").read_text())
    assert config["visual_exit"]["threshold"] is None
    assert "OCR" in step_names() and "VisionStage" not in step_names()
    assert "VisionStage" in step_names("--visual-threshold", "0.95")


@pytest.mark.slow
def test_the_engine_gets_whole_batches_by_default(
    synth_pages: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """RunInference hands the engine batches of --min-batch-size pages and up (the last of a
    bundle aside), as the job's `engine_batch_pages` distribution counts them; with the old
    start of 1 they were about 2 pages, too few to refill from (6 batches for these 18)."""
    from docexit.pipeline.options import DEFAULT_MIN_BATCH_SIZE
    from docexit.transforms.inference import ENGINE_BATCH_PAGES

    def batches(name: str, *extra: str) -> tuple[dict[str, Any], int, str]:
        argv = ["--input", str(synth_pages / "images" / "*"), "--output", str(tmp_path / name)]
        argv += ["--model", str(tiny_model_dir), "--dpi", "100", *extra]
        summary = run(argv, test_pipeline=BeamTestPipeline(argv=argv))
        return summary.metrics[ENGINE_BATCH_PAGES], summary.pages, summary.format()

    by_default, pages, text = batches("default")
    assert pages == 18 < DEFAULT_MIN_BATCH_SIZE
    # fewer pages than the minimum, in the DirectRunner's one bundle: all in one batch
    assert by_default["sum"] == pages and by_default["count"] == 1
    assert f"engine batches: {by_default['count']} of {by_default['mean']:.1f} pages" in text

    capped, pages, _ = batches("capped", "--batch-size", "2")
    assert capped["sum"] == pages and capped["max"] <= 2 and capped["count"] >= pages / 2
