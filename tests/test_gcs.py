"""gs:// against a local emulator: Beam's filesystem, gcsfs + pyarrow, and the whole job.

Nothing here reaches the real Cloud Storage: every test runs against `gcp-storage-emulator` on a
loopback port, started once per session by `gcs_emulator.gcs_server` and stopped at its end.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import urllib.request
from pathlib import Path
from typing import Any

import gcs_emulator
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystems import FileSystems
from gcs_emulator import GcsEmulator, gcsfs_filesystem

# The harness's fixtures (pytest puts tests/ on sys.path; tests/conftest.py is not ours to edit).
gcs_server = gcs_emulator.gcs_server
gcs_env = gcs_emulator.gcs_env

# As in test_pipeline.py: one multi-page TIFF, one PDF, one PNG of the seed-0 synthetic corpus.
PICKED = ("letter_0000.tif", "scientific_publication_0000.pdf", "memo_0000.png")
FAST_ARGS = ["--dpi", "100", "--batch-size", "4"]


def upload(local: Path, url: str) -> None:
    with FileSystems.create(url) as stream:
        stream.write(local.read_bytes())


def test_harness_starts_answers_and_stops() -> None:
    emulator = GcsEmulator(bucket="harness-check").start(timeout=8)
    port = emulator.port
    try:
        with urllib.request.urlopen(f"{emulator.endpoint}/storage/v1/b/harness-check", timeout=2):
            pass
        assert emulator.running
    finally:
        emulator.stop()
    assert not emulator.running and emulator.process is None
    with socket.socket() as sock:  # nobody listens there any more
        sock.settimeout(1)
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_beam_filesystem_create_match_read(gcs_env: GcsEmulator) -> None:
    from docexit.transforms.io import check_patterns

    contents = {f"in/page-{i}.bin": bytes([i]) * (100 + i) for i in range(3)}
    for name, data in contents.items():
        with FileSystems.create(gcs_env.url(name)) as stream:
            stream.write(data)

    (result,) = FileSystems.match([gcs_env.url("in/*")])
    sizes = {m.path: m.size_in_bytes for m in result.metadata_list}
    assert sizes == {gcs_env.url(name): len(data) for name, data in contents.items()}
    for name, data in contents.items():
        with FileSystems.open(gcs_env.url(name)) as stream:
            assert stream.read() == data
    # The launcher's up-front check works on gs:// patterns too.
    assert check_patterns([gcs_env.url("in/*")]) == {gcs_env.url("in/*"): 1}
    # Rename (copy + delete on GCS) is how the Parquet sink puts files in place.
    FileSystems.rename([gcs_env.url("in/page-0.bin")], [gcs_env.url("moved/page-0.bin")])
    assert FileSystems.exists(gcs_env.url("moved/page-0.bin"))
    assert not FileSystems.exists(gcs_env.url("in/page-0.bin"))


def test_gcsfs_parquet_roundtrip_and_docexit_sink(gcs_env: GcsEmulator) -> None:
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

    from docexit.transforms.layout import RunLayout, commit_run
    from docexit.transforms.sinks import WriteParquet, read_parquet

    fs = gcsfs_filesystem(gcs_env.endpoint)
    table = pa.table({"source": ["a", "b", "c"], "page": pa.array([0, 1, 2], pa.int32())})
    path = f"{gcs_env.bucket}/parquet/direct.parquet"
    pq.write_table(table, path, filesystem=fs)
    assert pq.read_table(path, filesystem=fs).equals(table)
    # gcsfs and Beam see the same objects.
    with FileSystems.open(f"gs://{path}") as stream:
        assert pq.read_table(io.BytesIO(stream.read())).equals(table)

    # docexit's sink (Beam's WriteToParquet) into staging, then the commit -> gcsfs + pyarrow.
    schema = pa.schema([pa.field("source", pa.string()), pa.field("page", pa.int32())])
    layout = RunLayout(gcs_env.url("run"), "r1")
    rows = [{"source": "x", "page": 3}, {"source": "y", "page": 4}]
    with BeamTestPipeline(argv=["--no_auth"]) as pipeline:
        _ = pipeline | beam.Create(rows) | WriteParquet(layout.staging_prefix("rows"), schema)
    (staged,) = FileSystems.match([layout.staging_prefix("rows") + "*"])[0].metadata_list
    commit_run(layout, {"rows": [staged.path]}, {"rows_written": 2})
    assert sorted(fs.find(f"{gcs_env.bucket}/run")) == [
        f"{gcs_env.bucket}/run/_SUCCESS",
        f"{gcs_env.bucket}/run/rows/part-00000-of-00001.parquet",
    ]  # no temporary or staged file left behind
    target = f"{gcs_env.bucket}/run/rows/part-00000-of-00001.parquet"
    written = pq.read_table(target, filesystem=fs)
    assert sorted(written.to_pylist(), key=lambda r: r["page"]) == rows
    assert read_parquet([f"gs://{target}"]).equals(written)


@pytest.fixture
def gcs_inputs(gcs_env: GcsEmulator, synth_pages: Path, tmp_path: Path) -> dict[str, Any]:
    """The picked synthetic files and a truncated PNG, uploaded to gs://BUCKET/in/."""
    for name in PICKED:
        upload(synth_pages / "images" / name, gcs_env.url(f"in/{name}"))
    good = (synth_pages / "images" / "email_0000.png").read_bytes()
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(good[: len(good) // 3])
    upload(corrupt, gcs_env.url("in/corrupt.png"))
    pages = []
    for line in (synth_pages / "ground_truth.jsonl").read_text().splitlines():
        row = json.loads(line)
        name = Path(row["file"]).name
        if name in PICKED:
            pages.append((gcs_env.url(f"in/{name}"), row["page"]))
    return {"pages": sorted(pages), "corrupt": gcs_env.url("in/corrupt.png")}


def _gcs_argv(gcs_env: GcsEmulator, model: Path, output: str, *extra: str) -> list[str]:
    argv = ["--input", gcs_env.url("in/*"), "--output", output, "--model", str(model)]
    return [*argv, "--no_auth", *FAST_ARGS, *extra]


@pytest.mark.slow
def test_run_reads_and_writes_gcs(
    gcs_env: GcsEmulator,
    gcs_inputs: dict[str, Any],
    synth_pages: Path,
    tiny_model_dir: Path,
    tmp_path: Path,
) -> None:
    """`run()` end to end: input matched on gs://, the output folder written to gs://, read back;
    then nightly reruns that skip from the objects' metadata alone."""
    from docexit.pipeline.run import run

    # The model is a local folder: checkpoints are not read from gs:// (see the deploy README).
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    summary = run(_gcs_argv(gcs_env, model, gcs_env.url("out/d1"), "--num-shards", "2"))

    fs = gcsfs_filesystem(gcs_env.endpoint)
    listed = sorted(fs.find(f"{gcs_env.bucket}/out/d1"))
    base = f"{gcs_env.bucket}/out/d1"
    assert [p for p in listed if "/rows/" in p] == [
        f"{base}/rows/part-00000-of-00002.parquet",
        f"{base}/rows/part-00001-of-00002.parquet",
    ]
    assert f"{base}/_SUCCESS" in listed and not [p for p in listed if "_staging" in p]
    rows = pa.concat_tables(
        pq.read_table(path, filesystem=fs) for path in listed if "/rows/" in path
    )
    (dead_path,) = [p for p in listed if "/dead_letters/" in p]
    dead = pq.read_table(dead_path, filesystem=fs)

    assert (
        sorted(zip(rows["source"].to_pylist(), rows["page"].to_pylist(), strict=True))
        == (gcs_inputs["pages"])
    )
    assert dead.select(["source", "stage", "error_type"]).to_pylist() == [
        {"source": gcs_inputs["corrupt"], "stage": "decode", "error_type": "DecodeError"}
    ]
    # Every input page is in exactly one output; the summary counted the same.
    assert summary.pages == rows.num_rows == len(gcs_inputs["pages"])
    assert summary.total_dead_letters == dead.num_rows == 1
    assert summary.row_files == [f"gs://{p}" for p in listed if "/rows/" in p]
    assert rows.schema.metadata[b"docexit.model_dir"] == str(model).encode()

    # Night 2: one new object; the others are skipped from their listing, never downloaded.
    new = synth_pages / "images" / "email_0000.png"
    upload(new, gcs_env.url("in/new.png"))
    second = run(_gcs_argv(gcs_env, model, gcs_env.url("out/d2"), "--skip-existing"))
    assert second.skipped_existing == len(PICKED)  # the corrupt file failed: it is retried
    corrupt_size = (tmp_path / "corrupt.png").stat().st_size
    assert second.metrics["bytes_read"] == new.stat().st_size + corrupt_size
    assert second.pages == 1 and second.dead_letters == {"decode": 1}
    # Night 3: an object written again (a new generation, same bytes) is done again.
    upload(new, gcs_env.url("in/new.png"))
    third = run(_gcs_argv(gcs_env, model, gcs_env.url("out/d3"), "--skip-existing"))
    assert third.skipped_existing == len(PICKED)
    assert third.pages == 1 and third.dead_letters == {"decode": 1}
