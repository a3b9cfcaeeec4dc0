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
    from docexit.transforms.sinks import read_parquet, write_parquet

    fs = gcsfs_filesystem(gcs_env.endpoint)
    table = pa.table({"source": ["a", "b", "c"], "page": pa.array([0, 1, 2], pa.int32())})
    path = f"{gcs_env.bucket}/parquet/direct.parquet"
    pq.write_table(table, path, filesystem=fs)
    assert pq.read_table(path, filesystem=fs).equals(table)
    # gcsfs and Beam see the same objects.
    with FileSystems.open(f"gs://{path}") as stream:
        assert pq.read_table(io.BytesIO(stream.read())).equals(table)

    # docexit's own writer (Beam FileSystems, temp name + rename) -> read with gcsfs + pyarrow.
    schema = pa.schema([pa.field("source", pa.string()), pa.field("page", pa.int32())])
    target = gcs_env.url("parquet/sink-00000-of-00001.parquet")
    write_parquet([{"source": "x", "page": 3}, {"source": "y", "page": 4}], schema, target)
    assert fs.ls(f"{gcs_env.bucket}/parquet", detail=False) == [
        f"{gcs_env.bucket}/parquet/direct.parquet",
        f"{gcs_env.bucket}/parquet/sink-00000-of-00001.parquet",
    ]  # no temporary file left behind
    written = pq.read_table(target.removeprefix("gs://"), filesystem=fs)
    assert written.to_pylist() == [{"source": "x", "page": 3}, {"source": "y", "page": 4}]
    assert read_parquet([target]).equals(written)


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


@pytest.mark.slow
def test_run_reads_and_writes_gcs(
    gcs_env: GcsEmulator, gcs_inputs: dict[str, Any], tiny_model_dir: Path, tmp_path: Path
) -> None:
    """`run()` end to end: input matched on gs://, Parquet written to gs://, read back."""
    from docexit.pipeline.run import run

    # The model is a local folder: checkpoints are not read from gs:// (see the deploy README).
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    output = gcs_env.url("out/pages")
    argv = [
        "--input",
        gcs_env.url("in/*"),
        "--output",
        output,
        "--model",
        str(model),
        "--no_auth",
        "--num-shards",
        "2",
        *FAST_ARGS,
    ]
    summary = run(argv)

    fs = gcsfs_filesystem(gcs_env.endpoint)
    listed = sorted(fs.ls(f"{gcs_env.bucket}/out", detail=False))
    assert listed == [
        f"{gcs_env.bucket}/out/pages-00000-of-00002.parquet",
        f"{gcs_env.bucket}/out/pages-00001-of-00002.parquet",
        f"{gcs_env.bucket}/out/pages-dead-letters-00000-of-00001.parquet",
    ]
    rows = pa.concat_tables(
        pq.read_table(path, filesystem=fs) for path in listed if "dead-letters" not in path
    )
    dead = pq.read_table(listed[-1], filesystem=fs)

    assert (
        sorted(zip(rows["source"].to_pylist(), rows["page"].to_pylist(), strict=True))
        == (gcs_inputs["pages"])
    )
    assert dead.select(["source", "stage", "error_type"]).to_pylist() == [
        {"source": gcs_inputs["corrupt"], "stage": "decode", "error_type": "DecodeError"}
    ]
    # Every input page is in exactly one output; the summary read the same files back.
    assert summary.pages == rows.num_rows == len(gcs_inputs["pages"])
    assert summary.total_dead_letters == dead.num_rows == 1
    assert summary.row_files == [f"gs://{p}" for p in listed[:2]]
    assert rows.schema.metadata[b"docexit.model_dir"] == str(model).encode()
