"""What `docexit run` uses when no --input or --model is given: sample pages and bundled model."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

#: How the shipped sample pages were generated (`make samples`).
SAMPLES_PER_CLASS = 1
SAMPLES_SEED = 0
SAMPLES_UNIT = "files"


class MissingModelError(FileNotFoundError):
    """No --model was given and no bundled model is installed."""


def cache_dir() -> Path:
    """`$DOCEXIT_CACHE`, else `~/.cache/docexit`."""
    return Path(os.environ.get("DOCEXIT_CACHE") or Path.home() / ".cache" / "docexit")


def bundled_model_dir() -> Path:
    """The model shipped as package data (`docexit.models` -> `bundled/`), checked to exist."""
    folder = Path(str(resources.files("docexit.models") / "bundled")).resolve()
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise MissingModelError(
            f"no bundled model in {folder} (config.json + model.safetensors expected): train one "
            "with `docexit train` (it writes models/bundled/), or pass --model DIR"
        )
    return folder


def samples_dir() -> Path:
    """The sample pages shipped as package data (`docexit.pipeline` -> `samples/`).

    They are what `write_corpus(per_class=1, seed=0, unit="files")` writes (`labels.csv`,
    `ground_truth.jsonl`, `images/`); `make samples` regenerates them and
    `tests/test_samples.py` checks they still match the generator.
    """
    return Path(str(resources.files("docexit.pipeline") / "samples")).resolve()


def sample_inputs() -> list[str]:
    """The input pattern of the shipped sample pages."""
    return [str(samples_dir() / "images" / "*")]
