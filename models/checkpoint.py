"""Checkpoints: a folder with `config.json` (EarlyExitConfig: backbone, exits, labels,
temperatures, policy), `model.safetensors` and the model's tokenizer files (`tokenizer.json`,
`tokenizer_config.json`; `models/tokenizer.py`), written and read with transformers'
save_pretrained / from_pretrained. Nothing is ever unpickled: pickled weights (`*.bin`, `*.pt`)
are refused, and only safetensors are read."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from docexit.models.config import EarlyExitConfig
from docexit.models.model import EarlyExitModel
from docexit.models.text_prior import TEXT_PRIOR_FILE, TextPrior
from docexit.models.tokenizer import save_tokenizer, tokenizer_source

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
STORAGE_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


class CheckpointError(Exception):
    """A checkpoint folder that cannot be loaded (missing, incomplete, corrupt, pickled)."""


def save_checkpoint(
    model: EarlyExitModel, directory: str | Path, *, dtype: torch.dtype = torch.float32
) -> Path:
    """Writes `config.json` + `model.safetensors` and the model's tokenizer (from
    `tokenizer_source(model)`) into `directory` (created if needed).

    dtype: storage precision; float16 halves the bundled model's size. `model` itself is not
    changed, and `load_checkpoint` always returns float32.
    """
    if dtype not in STORAGE_DTYPES:
        raise ValueError(f"dtype must be one of {STORAGE_DTYPES}, got {dtype}")
    tokenizer_dir = tokenizer_source(model)  # fails before anything is written
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    to_save = model if dtype == torch.float32 else copy.deepcopy(model).to(dtype)
    to_save.save_pretrained(str(directory))
    if not (directory / WEIGHTS_FILE).is_file():
        raise CheckpointError(f"save_pretrained wrote no {WEIGHTS_FILE} in {directory}")
    save_tokenizer(tokenizer_dir, directory)
    if model.text_prior is not None:
        model.text_prior.save(directory)
    else:  # a prior left by an earlier save would be read with weights it was not fitted to
        (directory / TEXT_PRIOR_FILE).unlink(missing_ok=True)
    return directory


def _check_folder(directory: Path) -> None:
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint folder {directory} does not exist")
    config_file = directory / CONFIG_FILE
    if not config_file.is_file():
        raise CheckpointError(f"checkpoint folder {directory} has no {CONFIG_FILE}")
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
        raise CheckpointError(f"{config_file} is not a JSON object: {err}") from err
    if model_type != EarlyExitConfig.model_type:
        raise CheckpointError(
            f"{config_file} has model_type {model_type!r}, expected {EarlyExitConfig.model_type!r} "
            "(a plain LayoutLMv3 checkpoint is loaded with EarlyExitModel.from_layoutlmv3)"
        )
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        pickled = sorted(
            p.name for p in directory.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".ckpt"}
        )
        if pickled:
            raise CheckpointError(
                f"checkpoint folder {directory} has only pickled weights ({', '.join(pickled)}); "
                f"they are never unpickled: convert them to {WEIGHTS_FILE}"
            )
        raise CheckpointError(f"checkpoint folder {directory} has no {WEIGHTS_FILE}")
    try:
        with safe_open(str(weights), framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                f.get_slice(key).get_shape()
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights} is not a valid safetensors file: {err}") from err


def load_checkpoint(
    directory: str | Path, device: torch.device | str | None = None
) -> EarlyExitModel:
    """The model saved in `directory`, float32, in eval mode, on `device` (default CPU).

    Raises CheckpointError for a missing folder or file, a corrupt or truncated safetensors file,
    a config that is not an EarlyExitConfig, or weights that do not match the config.
    """
    directory = Path(directory)
    _check_folder(directory)
    try:
        model, info = EarlyExitModel.from_pretrained(
            str(directory), use_safetensors=True, dtype=torch.float32, output_loading_info=True
        )
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, SafetensorError) as err:
        raise CheckpointError(f"cannot load checkpoint {directory}: {err}") from err
    problems = {k: v for k, v in info.items() if k != "error_msgs" and v} | (
        {"error_msgs": info["error_msgs"]} if info.get("error_msgs") else {}
    )
    if problems:
        raise CheckpointError(f"weights in {directory} do not match its config: {problems}")
    model.tokenizer_dir = str(directory)
    model.text_prior = TextPrior.load(directory)
    model.eval()
    if device is not None:
        model.to(device)
    return model
