"""The same job on three runners gives the same Parquet rows.

In-process DirectRunner (the reference), PortableRunner against Beam's Python job service with
EXTERNAL workers from `worker_pool_main` in separate processes (the Fn API that Flink and
Dataflow workers speak), and DirectRunner in multi_processing mode. The services are started
and stopped here, on free loopback ports.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from docexit.pipeline.run import run

REPO = Path(__file__).resolve().parents[1]
# A multi-page TIFF, a PDF and two PNGs from the seed-0 synthetic corpus.
PICKED = ("letter_0000.tif", "scientific_publication_0000.pdf", "memo_0000.png", "email_0000.png")
FAST_ARGS = ["--dpi", "100", "--batch-size", "4"]
TIMING_COLUMNS = {"ocr_ms", "inference_ms"}
READY_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env() -> dict[str, str]:
    env = dict(os.environ)
    # worker_pool_main starts each SDK worker as a bare `python`: make it this interpreter.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(
        OMP_THREAD_LIMIT="1",
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        TOKENIZERS_PARALLELISM="false",
    )
    return env


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"service exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"service not listening on {port} after {READY_TIMEOUT_S}s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """A Python job service and an EXTERNAL worker pool, each in its own process."""
    logs = tmp_path_factory.mktemp("service_logs")
    ports = {"job": free_port(), "worker": free_port()}
    commands = {
        "job": [
            sys.executable,
            "-m",
            "apache_beam.runners.portability.local_job_service_main",
            f"--port={ports['job']}",  # artifact staging is served on the same port
        ],
        "worker": [
            sys.executable,
            "-m",
            "apache_beam.runners.worker.worker_pool_main",
            f"--service_port={ports['worker']}",
        ],
    }
    processes: dict[str, subprocess.Popen] = {}
    try:
        for name, command in commands.items():
            log = logs / f"{name}.log"
            with log.open("wb") as out:
                processes[name] = subprocess.Popen(
                    command,
                    cwd=REPO,  # a stray module in the cwd (e.g. /tmp) breaks the workers
                    env=service_env(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        for name, process in processes.items():
            wait_for_port(ports[name], process, logs / f"{name}.log")
        yield ports
    finally:
        for process in processes.values():
            stop(process)


@pytest.fixture(scope="module")
def inputs(synth_pages: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("runner_inputs")
    for name in PICKED:
        shutil.copy(synth_pages / "images" / name, folder / name)
    return folder


def job_args(inputs: Path, model_dir: Path, output: Path, *extra: str) -> list[str]:
    return [
        "--input",
        str(inputs / "*"),
        "--output",
        str(output / "pages"),
        "--model",
        str(model_dir),
        *FAST_ARGS,
        *extra,
    ]


def read_rows(files: list[str]) -> list[dict[str, Any]]:
    rows = [
        {k: v for k, v in row.items() if k not in TIMING_COLUMNS}
        for f in files
        for row in pq.read_table(f).to_pylist()
    ]
    return sorted(rows, key=lambda r: (r["source"], r["page"]))


def assert_same_rows(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [(r["source"], r["page"]) for r in got] == [(r["source"], r["page"]) for r in expected]
    for g, e in zip(got, expected, strict=True):
        assert g.keys() == e.keys()
        for key, value in e.items():
            if isinstance(value, float):
                assert g[key] == pytest.approx(value, rel=1e-5, abs=1e-6), (key, g, e)
            else:
                assert g[key] == value, (key, g, e)


@pytest.fixture(scope="module")
def reference(
    inputs: Path, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The in-process DirectRunner run."""
    out = tmp_path_factory.mktemp("direct")
    argv = job_args(inputs, tiny_model_dir, out)
    summary = run(argv, test_pipeline=BeamTestPipeline(argv=argv))
    rows = read_rows(summary.row_files)
    assert rows and summary.pages == len(rows)
    assert {Path(r["source"]).name for r in rows} == set(PICKED)
    return {"rows": rows, "summary": summary}


def check_against_reference(summary: Any, reference: dict[str, Any]) -> None:
    rows = read_rows(summary.row_files)
    assert_same_rows(rows, reference["rows"])
    assert summary.pages == reference["summary"].pages == len(rows)
    assert summary.exit_layers == reference["summary"].exit_layers
    assert summary.dead_letters == reference["summary"].dead_letters


@pytest.mark.slow
def test_portable_runner_with_external_workers(
    services: dict[str, int],
    inputs: Path,
    tiny_model_dir: Path,
    reference: dict[str, Any],
    tmp_path: Path,
) -> None:
    argv = job_args(
        inputs,
        tiny_model_dir,
        tmp_path,
        "--runner=PortableRunner",
        f"--job_endpoint=localhost:{services['job']}",
        "--environment_type=EXTERNAL",
        f"--environment_config=localhost:{services['worker']}",
    )
    check_against_reference(run(argv), reference)


@pytest.mark.slow
def test_direct_runner_multi_processing(
    inputs: Path, tiny_model_dir: Path, reference: dict[str, Any], tmp_path: Path
) -> None:
    argv = job_args(
        inputs,
        tiny_model_dir,
        tmp_path,
        "--runner=DirectRunner",
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
    )
    check_against_reference(run(argv), reference)
