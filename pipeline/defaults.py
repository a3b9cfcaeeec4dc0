"""What `docexit run` uses when no --input or --model is given: sample pages and bundled model."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

LOG = logging.getLogger(__name__)

SAMPLES_PER_CLASS = 1
SAMPLES_SEED = 0
_COMPLETE = ".complete"  # written last: a sample folder without it is rebuilt


class MissingModelError(FileNotFoundError):
    """No --model was given and no bundled model is installed."""


def cache_dir() -> Path:
    """`$DOCEXIT_CACHE`, else `~/.cache/docexit`."""
    return Path(os.environ.get("DOCEXIT_CACHE") or Path.home() / ".cache" / "docexit")


def bundled_model_dir() -> Path:
    """The model shipped as package data (`docexit.models` -> `bundled/`), checked to exist."""
    folder = Path(str(resources.files("docexit.models") / "bundled"))
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise MissingModelError(
            f"no bundled model in {folder} (config.json + model.safetensors expected): train one "
            "with `docexit train` (it writes models/bundled/), or pass --model DIR"
        )
    return folder


def ensure_samples(root: Path | None = None) -> Path:
    """The bundled sample pages: generated once with the synthetic page generator, then reused.

    Generation goes to a temporary sibling folder that is renamed into place, so concurrent
    first runs cannot see a half-written folder.
    """
    target = (root or cache_dir()) / "samples"
    if (target / _COMPLETE).is_file():
        return target
    from docexit.corpus.synth import write_corpus

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="samples-", dir=target.parent))
    LOG.info("generating sample pages into %s", target)
    write_corpus(staging, per_class=SAMPLES_PER_CLASS, seed=SAMPLES_SEED, unit="files")
    (staging / _COMPLETE).write_text("")
    try:
        staging.rename(target)
    except OSError:  # another run won the race, or a stale incomplete folder is in the way
        if not (target / _COMPLETE).is_file():
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        else:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def sample_inputs(root: Path | None = None) -> list[str]:
    """The input pattern of the sample pages (the generator writes them under `images/`)."""
    return [str(ensure_samples(root) / "images" / "*")]
