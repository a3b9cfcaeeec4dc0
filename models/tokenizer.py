"""The tokenizer that travels with a model's weights: where it comes from, how it is checked
against the backbone, and how it is written next to `model.safetensors`.

A model built here remembers the folder its tokenizer comes from (`model.tokenizer_dir`): the
checkpoint it was loaded from, the LayoutLMv3 folder it was imported from, or all-MiniLM-L6-v2's
folder for the MiniLM warm start and for random backbones with MiniLM's vocabulary (30522,
[PAD] = 0). `save_checkpoint` writes that tokenizer (and an imported model's image processor
config) into every checkpoint folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from docexit.transforms.featurize import (
    IMAGE_PROCESSOR_FILES,
    Featurizer,
    TokenizerError,
    load_tokenizer,
)

if TYPE_CHECKING:
    from transformers import LayoutLMv3Config, PreTrainedTokenizerBase

    from docexit.models.model import EarlyExitModel

MINILM_VOCAB = (30522, 0)  # all-MiniLM-L6-v2's vocabulary size and [PAD] id


def check_tokenizer(
    tokenizer: PreTrainedTokenizerBase, backbone: LayoutLMv3Config, folder: str | Path
) -> None:
    """Raises TokenizerError unless the tokenizer fits the backbone's embedding table: the same
    vocabulary size and the same padding id."""
    size = len(tokenizer)
    if size != int(backbone.vocab_size):
        raise TokenizerError(
            f"the tokenizer in {folder} has {size} tokens but the model's vocabulary has "
            f"{backbone.vocab_size}: it is not the tokenizer these weights were trained with"
        )
    if tokenizer.pad_token_id != int(backbone.pad_token_id):
        raise TokenizerError(
            f"the tokenizer in {folder} pads with id {tokenizer.pad_token_id} but the model's "
            f"pad_token_id is {backbone.pad_token_id}: it is not this model's tokenizer"
        )


def check_model_tokenizer(model_dir: str | Path, backbone: LayoutLMv3Config) -> None:
    """The tokenizer saved in `model_dir` loads and fits `backbone` (start-up check)."""
    check_tokenizer(load_tokenizer(model_dir), backbone, model_dir)


def minilm_tokenizer_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 package (its WordPiece tokenizer)."""
    from docexit.models.backbone import minilm_path

    return minilm_path()


def tokenizer_source(model: EarlyExitModel) -> Path:
    """The folder holding `model`'s tokenizer; raises TokenizerError when it has none."""
    folder = getattr(model, "tokenizer_dir", None)
    if folder is not None:
        return Path(folder)
    backbone = model.config.backbone
    if (int(backbone.vocab_size), int(backbone.pad_token_id)) == MINILM_VOCAB:
        return minilm_tokenizer_dir()
    raise TokenizerError(
        f"the model has a {backbone.vocab_size}-token vocabulary and no tokenizer folder "
        "(model.tokenizer_dir): build it from a folder that holds its tokenizer"
    )


def save_tokenizer(source: str | Path, directory: str | Path) -> None:
    """Writes the tokenizer of `source` (and its image processor config, if any) into
    `directory`, as transformers' `save_pretrained` writes them."""
    source, directory = Path(source), Path(directory)
    if source.resolve() == directory.resolve():
        return
    load_tokenizer(source).save_pretrained(str(directory))
    for name in IMAGE_PROCESSOR_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, directory / name)


def featurizer_for(model: EarlyExitModel, max_length: int | None = None) -> Featurizer:
    """The featurizer that fits `model`: its tokenizer, text length and image size."""
    length = int(model.config.max_text_tokens if max_length is None else max_length)
    return Featurizer(tokenizer_source(model), length, model.config.image_size)
