"""A standard transformers LayoutLMv3 folder -> a docexit checkpoint (`docexit import --hf`).

The folder holds `config.json` (model_type `layoutlmv3`), weights of a
`LayoutLMv3ForSequenceClassification` or a `LayoutLMv3Model` (`model.safetensors`, or a
`pytorch_model.bin` read with `torch.load(weights_only=True)`, never an unrestricted unpickle),
its tokenizer files and, usually, `preprocessor_config.json` (as `LayoutLMv3Processor`
saves them).

The import copies the backbone bit-exact into `EarlyExitModel.backbone` and the
sequence-classification head (`classifier.dense`, `classifier.out_proj`) into the final exit,
which is LayoutLMv3's classification head on the text CLS state. Labels come from `id2label`,
mapped onto the 16 RVL-CDIP names where they match ("Scientific Publication" ->
`scientific_publication`), kept as they are otherwise. Text length comes from the tokenizer's
`model_max_length` and the position table, image size from the config and image processor. The
imported model has no exit heads yet: it runs at full depth, with the same logits as
transformers' model fed by `LayoutLMv3Processor(apply_ocr=False)`.
"""

from __future__ import annotations

import json
import logging
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from transformers import LayoutLMv3Config

from docexit.models.backbone import check_backbone_config
from docexit.models.config import EarlyExitConfig
from docexit.models.model import EarlyExitModel
from docexit.models.policies.selection import never_exit_early
from docexit.models.tokenizer import check_tokenizer
from docexit.transforms.featurize import (
    IMAGE_PROCESSOR_FILES,
    TokenizerError,
    load_image_processor,
    load_tokenizer,
)
from docexit.transforms.records import LABELS

LOG = logging.getLogger(__name__)
SAFETENSORS_FILE = "model.safetensors"
PICKLE_FILE = "pytorch_model.bin"
HEAD_KEYS = {  # LayoutLMv3ForSequenceClassification's head -> the final exit's ramp
    "classifier.dense.weight": "dense.weight",
    "classifier.dense.bias": "dense.bias",
    "classifier.out_proj.weight": "out_proj.weight",
    "classifier.out_proj.bias": "out_proj.bias",
}
BACKBONE_PREFIX = "layoutlmv3."
ARCHITECTURES = ("LayoutLMv3ForSequenceClassification", "LayoutLMv3Model")


class HfImportError(ValueError):
    """A folder that is not a usable LayoutLMv3 classifier (clear message for the user)."""


def is_layoutlmv3_folder(folder: str | Path) -> bool:
    """True when `folder/config.json` is a transformers LayoutLMv3 config."""
    path = Path(folder) / "config.json"
    try:
        return json.loads(path.read_text()).get("model_type") == "layoutlmv3"
    except (OSError, ValueError, AttributeError):
        return False


def read_layoutlmv3_config(folder: Path) -> LayoutLMv3Config:
    """The folder's LayoutLMv3 config; HfImportError for anything else."""
    path = folder / "config.json"
    if not path.is_file():
        raise HfImportError(f"{folder} has no config.json: not a transformers model folder")
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise HfImportError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(raw, dict) or raw.get("model_type") != "layoutlmv3":
        kind = raw.get("model_type") if isinstance(raw, dict) else None
        raise HfImportError(f"{folder} is not a LayoutLMv3 model (model_type {kind!r})")
    unknown = [a for a in raw.get("architectures") or [] if a not in ARCHITECTURES]
    if unknown:
        raise HfImportError(
            f"{folder} holds a {unknown[0]}; import takes {' or '.join(ARCHITECTURES)}"
        )
    config = LayoutLMv3Config.from_pretrained(str(folder))
    try:
        check_backbone_config(config)
    except ValueError as err:
        raise HfImportError(f"{folder}: {err}") from err
    return config


def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The folder's weights as float32 tensors: safetensors, else `pytorch_model.bin` through
    `torch.load(weights_only=True)` (plain tensors only; anything else is refused)."""
    if (folder / SAFETENSORS_FILE).is_file():
        try:
            weights = load_file(str(folder / SAFETENSORS_FILE))
        except (SafetensorError, OSError) as err:
            raise HfImportError(f"{folder / SAFETENSORS_FILE} is not valid: {err}") from err
    elif (folder / PICKLE_FILE).is_file():
        try:
            weights = torch.load(folder / PICKLE_FILE, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, OSError, EOFError) as err:
            raise HfImportError(
                f"{folder / PICKLE_FILE} does not load with torch.load(weights_only=True), so it "
                f"is not read (it may run code when unpickled): {str(err).splitlines()[0]}"
            ) from err
        if not isinstance(weights, dict) or not all(
            isinstance(v, torch.Tensor) for v in weights.values()
        ):
            raise HfImportError(f"{folder / PICKLE_FILE} is not a dict of tensors")
    else:
        raise HfImportError(f"{folder} has no weights ({SAFETENSORS_FILE} or {PICKLE_FILE})")
    return {name: tensor.float() for name, tensor in weights.items()}


def _label_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def output_labels(config: LayoutLMv3Config) -> list[str]:
    """The checkpoint's labels in id order, RVL-CDIP names where they match; unique."""
    id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()}
    if sorted(id2label) != list(range(len(id2label))):
        raise HfImportError(f"id2label must number its labels 0..N-1, got ids {sorted(id2label)}")
    rvl = {_label_key(name): name for name in LABELS}
    names = [rvl.get(_label_key(id2label[i]), id2label[i]) for i in range(len(id2label))]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise HfImportError(
            f"the config's labels are not unique: {', '.join(repeated)} name more than one class "
            f"(id2label {id2label})"
        )
    if len(names) < 2:
        raise HfImportError(f"a classifier needs at least two labels, got {names}")
    return names


def split_weights(
    weights: dict[str, torch.Tensor], has_head: bool
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(backbone state dict, final-exit ramp state dict) from the checkpoint's tensors."""
    prefixed = any(k.startswith(BACKBONE_PREFIX) for k in weights)
    backbone = {
        k.removeprefix(BACKBONE_PREFIX): v
        for k, v in weights.items()
        if k not in HEAD_KEYS and (k.startswith(BACKBONE_PREFIX) or not prefixed)
    }
    head = {HEAD_KEYS[k]: v for k, v in weights.items() if k in HEAD_KEYS}
    other = sorted(k for k in weights if k not in HEAD_KEYS and prefixed)
    other = [k for k in other if not k.startswith(BACKBONE_PREFIX)]
    if other:
        raise HfImportError(f"unexpected weights outside the backbone and head: {other[:5]}")
    if has_head and len(head) != len(HEAD_KEYS):
        missing = sorted(set(HEAD_KEYS) - {k for k in weights if k in HEAD_KEYS})
        raise HfImportError(f"the classification head is incomplete: {missing} missing")
    return backbone, head


def text_length(config: LayoutLMv3Config, model_max_length: int | None) -> int:
    """Tokens per page: the tokenizer's `model_max_length`, at most what positions allow."""
    limit = int(config.max_position_embeddings) - int(config.pad_token_id) - 1
    if model_max_length is None or model_max_length > 100_000:  # transformers' "no limit"
        return limit
    return min(limit, int(model_max_length))


def check_image_size(folder: Path, config: LayoutLMv3Config) -> None:
    """The image processor (if any) resizes pages to the config's `input_size`."""
    processor = load_image_processor(folder)
    if processor is None:
        return
    size: Any = processor.size
    sides = {getattr(size, "height", None), getattr(size, "width", None)}
    if sides != {int(config.input_size)}:
        raise HfImportError(
            f"the image processor in {folder} resizes to {size}, but the model reads "
            f"{config.input_size} px images (config input_size)"
        )


def build_imported(folder: str | Path) -> EarlyExitModel:
    """The docexit model of a transformers LayoutLMv3 folder (not saved); HfImportError,
    with a clear message, for anything it cannot take."""
    folder = Path(folder)
    config = read_layoutlmv3_config(folder)
    try:
        tokenizer = load_tokenizer(folder)
        check_tokenizer(tokenizer, config, folder)
    except TokenizerError as err:
        raise HfImportError(str(err)) from err
    check_image_size(folder, config)
    weights = read_weights(folder)
    has_head = any(k in HEAD_KEYS for k in weights)
    backbone_weights, head_weights = split_weights(weights, has_head)
    labels = output_labels(config) if has_head else list(LABELS)
    backbone = {
        k: v
        for k, v in config.to_dict().items()
        if k not in {"id2label", "label2id", "architectures", "num_labels", "problem_type"}
    }
    model = EarlyExitModel(
        EarlyExitConfig(
            backbone=backbone,
            label_names=labels,
            max_text_tokens=text_length(config, tokenizer.model_max_length),
            init_source=f"layoutlmv3:{folder}",
            policy=never_exit_early("max_prob", 1).to_dict(),
        )
    )
    _load(model.backbone, backbone_weights, "backbone")
    if has_head:
        _load(model.exits[-1].ramp, head_weights, "classification head")
    else:
        LOG.warning("%s has no classification head: the final exit starts untrained", folder)
    model.tokenizer_dir = str(folder)
    return model.eval()


def _load(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Copies `state` into `module`; every parameter and buffer it saves must be there."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise HfImportError(
            f"the {what} weights do not fit the config: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    wrong = [k for k, v in state.items() if v.shape != expected[k].shape]
    if wrong:
        raise HfImportError(f"the {what} weights have other shapes than the config: {wrong[:5]}")
    module.load_state_dict(state, strict=True)


def default_image_processor(image_size: int) -> Any:
    """LayoutLMv3's default image processor (bilinear resize, mean/std 0.5), OCR off."""
    from transformers import LayoutLMv3ImageProcessorPil

    return LayoutLMv3ImageProcessorPil(
        apply_ocr=False, size={"height": image_size, "width": image_size}
    )


def import_checkpoint(folder: str | Path, out: str | Path) -> EarlyExitModel:
    """Imports `folder` and saves the docexit checkpoint (weights, tokenizer, image processor
    with OCR off) into `out`; returns the model."""
    from docexit.models.checkpoint import save_checkpoint

    folder, out = Path(folder), Path(out)
    model = build_imported(folder)
    save_checkpoint(model, out)
    processor = load_image_processor(folder) or default_image_processor(model.config.image_size)
    processor.apply_ocr = False  # the pipeline OCRs; the processor only prepares the image
    for name in IMAGE_PROCESSOR_FILES:
        (out / name).unlink(missing_ok=True)
    processor.save_pretrained(str(out))
    return model


def folder_digest(folder: Path) -> str:
    """sha256 over the names and bytes of the folder's files (not its subfolders)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        digest.update(path.name.encode())
        with path.open("rb") as stream:
            for chunk in iter(lambda s=stream: s.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def cached_import(folder: str | Path, cache_root: str | Path) -> Path:
    """The docexit checkpoint of a transformers folder, imported once into `cache_root` (keyed
    by the folder's content; written to a temporary sibling and renamed into place)."""
    import shutil
    import tempfile

    folder = Path(folder)
    target = Path(cache_root) / f"{folder.resolve().name}-{folder_digest(folder)}"
    if (target / SAFETENSORS_FILE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="import-", dir=target.parent))
    try:
        import_checkpoint(folder, staging)
        staging.rename(target)
    except OSError:  # another run imported it first
        shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
