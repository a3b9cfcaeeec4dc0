"""A local Cloud Storage emulator for tests: `gcp-storage-emulator` as a subprocess.

Nothing here touches the real service. `GcsEmulator.start()` runs
`gcp-storage-emulator start --host=127.0.0.1 --port=N --in-memory --default-bucket=B` on a free
loopback port, waits (a few seconds at most) until the bucket answers, and `stop()` ends that
process (terminate, then kill). `emulator_env()` points the clients at it:

- Beam's own `gs://` filesystem (google-cloud-storage underneath) reads `STORAGE_EMULATOR_HOST`;
  `beam_anonymous_gcs()` makes it anonymous at once (`--no_auth` alone does not: see there),
  else Beam spends ~25 s looking for credentials before it falls back to an anonymous client.
- gcsfs: `gcsfs_filesystem(endpoint)` = `endpoint_url=..., token="anon"`, with
  `GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false` (else its writes stall 60 s on a gRPC probe).

Pytest fixtures: `gcs_server` (session-scoped, one emulator process for the whole run) and
`gcs_env` (function-scoped: environment set and Beam's GCS client anonymous, see
`beam_anonymous_gcs`, both restored afterwards; the bucket is wiped after each test). A test module uses them with
`from gcs_emulator import gcs_env, gcs_server  # noqa: F401` (pytest puts tests/ on sys.path),
or a conftest lists `"gcs_emulator"` in `pytest_plugins`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DEFAULT_BUCKET = "docexit-test"
READY_TIMEOUT_S = 8.0  # the emulator answers in about a second, even on a busy machine
STOP_TIMEOUT_S = 5.0

EMULATOR_ENV = ("STORAGE_EMULATOR_HOST", "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT")


class EmulatorError(RuntimeError):
    """The emulator could not be started (not installed, exited, or never answered)."""


def emulator_command() -> list[str]:
    """The `gcp-storage-emulator` console script of this interpreter's environment."""
    beside = Path(sys.executable).with_name("gcp-storage-emulator")
    found = str(beside) if beside.exists() else shutil.which("gcp-storage-emulator")
    if not found:
        raise EmulatorError(
            "gcp-storage-emulator is not installed (it is in the dev extras: "
            "pip install -e '.[dev]')"
        )
    return [found]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class GcsEmulator:
    """One emulator process with one bucket, on a loopback port."""

    bucket: str = DEFAULT_BUCKET
    port: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)
    log_path: Path | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "") -> str:
        """`gs://BUCKET/path`."""
        return f"gs://{self.bucket}/{path.lstrip('/')}"

    def start(self, timeout: float = READY_TIMEOUT_S, attempts: int = 3) -> GcsEmulator:
        """Start the process and wait until the bucket answers; retry on a lost port race."""
        last_error: Exception | None = None
        for _ in range(attempts):
            self.port = free_port()
            try:
                self._launch()
                self._wait_ready(timeout)
                return self
            except EmulatorError as error:
                last_error = error
                self.stop()
        raise EmulatorError(f"gcp-storage-emulator did not start: {last_error}")

    def _launch(self) -> None:
        handle, name = tempfile.mkstemp(prefix="gcs-emulator-", suffix=".log")
        self.log_path = Path(name)
        with os.fdopen(handle, "wb") as log:  # a file, not a pipe: a full pipe would block it
            self.process = subprocess.Popen(
                [
                    *emulator_command(),
                    "start",
                    "--host=127.0.0.1",
                    f"--port={self.port}",
                    "--in-memory",
                    f"--default-bucket={self.bucket}",
                    "--quiet",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={k: v for k, v in os.environ.items() if k not in EMULATOR_ENV},
            )

    def _log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-2000:]

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        probe = f"{self.endpoint}/storage/v1/b/{self.bucket}"
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise EmulatorError(
                    f"exited with code {self.process.returncode}: {self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(probe, timeout=0.5) as response:
                    if json.load(response).get("name") == self.bucket:
                        return
            except (OSError, ValueError):  # refused, reset, timeout, not JSON yet
                pass
            if time.monotonic() > deadline:
                raise EmulatorError(f"no answer from {probe} in {timeout:.0f}s: {self._log_tail()}")
            time.sleep(0.05)

    def wipe(self) -> None:
        """Delete every object (the bucket stays)."""
        with urllib.request.urlopen(f"{self.endpoint}/wipe?keep-buckets=true", timeout=5):
            pass

    def stop(self) -> None:
        """End the process (terminate, then kill) and remove its log."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_S)
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> GcsEmulator:
        return self.start() if not self.running else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def emulator_env(endpoint: str) -> Iterator[None]:
    """Point google-cloud-storage (Beam's gs://) and gcsfs at `endpoint`; restore on exit."""
    saved = {name: os.environ.get(name) for name in EMULATOR_ENV}
    os.environ["STORAGE_EMULATOR_HOST"] = endpoint
    os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def beam_anonymous_gcs() -> Iterator[None]:
    """Beam's gs:// filesystem with an anonymous client, without the credential search.

    In Beam 2.77 `--no_auth` does not reach Beam's GCS client (only the Dataflow API client and
    the container builder read it): `gcsio.create_storage_client` always asks
    `auth.get_service_credentials`, whose `google.auth.default()` fails here and is retried with
    backoff for ~25 s before Beam "connects anonymously" and caches that answer per process.
    This pre-seeds the same cached answer (no credentials -> `Client.create_anonymous_client()`,
    which honours STORAGE_EMULATOR_HOST) and restores Beam's state on exit. It also sets
    FileSystems' options to `--no_auth` for code that runs outside a pipeline.
    """
    from apache_beam.internal.gcp import auth
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    cache = auth._Credentials  # private: Beam has no public switch for this
    saved_cache = (cache._credentials_init, cache._credentials)
    saved_options = FileSystems._pipeline_options  # no public getter
    with cache._credentials_lock:
        cache._credentials_init, cache._credentials = True, None
    FileSystems.set_options(PipelineOptions(["--no_auth"]))
    try:
        yield
    finally:
        FileSystems._pipeline_options = saved_options
        with cache._credentials_lock:
            cache._credentials_init, cache._credentials = saved_cache


def gcsfs_filesystem(endpoint: str):  # -> gcsfs.GCSFileSystem
    """A gcsfs filesystem on the emulator: anonymous, no instance cache (each test its own)."""
    import gcsfs

    os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
    return gcsfs.GCSFileSystem(endpoint_url=endpoint, token="anon", skip_instance_cache=True)


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[GcsEmulator]:
    """One emulator process for the test session, stopped at its end."""
    emulator = GcsEmulator(bucket=DEFAULT_BUCKET)
    try:
        emulator.start()
    except EmulatorError as error:
        pytest.fail(str(error))
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def gcs_env(gcs_server: GcsEmulator) -> Iterator[GcsEmulator]:
    """The emulator with clients pointed at it (env + Beam `--no_auth`); bucket wiped after."""
    with emulator_env(gcs_server.endpoint), beam_anonymous_gcs():
        yield gcs_server
    if gcs_server.running:
        gcs_server.wipe()
