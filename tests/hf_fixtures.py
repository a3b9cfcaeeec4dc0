"""Builders of standard transformers LayoutLMv3 folders for tests, made here (nothing can be
downloaded): a byte-level BPE tokenizer trained with `tokenizers` on the synthetic generator's
vocabulary and wrapped as `LayoutLMv3TokenizerFast` (`<s>`=0, `<pad>`=1, `</s>`=2), a random
`LayoutLMv3ForSequenceClassification` saved with `save_pretrained`, and a
`LayoutLMv3Processor(apply_ocr=False)` saved next to it, as a user's fine-tuned folder is."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import (
    LayoutLMv3Config,
    LayoutLMv3ForSequenceClassification,
    LayoutLMv3ImageProcessorPil,
    LayoutLMv3Processor,
    LayoutLMv3TokenizerFast,
)

from docexit.benchmarks.byo_standin import bpe_vocab_and_merges
from docexit.models.backbone import layout_embedding_sizes
from docexit.transforms.records import LABELS

BPE_VOCAB = 600


@functools.cache
def _bpe_files(vocab_size: int) -> tuple[dict[str, int], list[tuple[str, ...]]]:
    """BPE vocabulary and merges trained on the synthetic generator's words (cached)."""
    from docexit.corpus.synth_text import shared_vocabulary

    return bpe_vocab_and_merges([" ".join(shared_vocabulary())], vocab_size, min_frequency=1)


def bpe_tokenizer(max_length: int, vocab_size: int = BPE_VOCAB) -> LayoutLMv3TokenizerFast:
    """A LayoutLMv3 byte-level BPE tokenizer whose `model_max_length` is `max_length`."""
    vocab, merges = _bpe_files(vocab_size)
    return LayoutLMv3TokenizerFast(
        vocab=dict(vocab), merges=list(merges), model_max_length=max_length
    )


def save_hf_classifier(
    folder: Path,
    *,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 4,
    max_text: int = 48,
    image_size: int = 64,
    labels: Sequence[str] = LABELS,
    seed: int = 0,
    init_range: float = 0.2,
    intermediate: int | None = None,
) -> Path:
    """A random LayoutLMv3ForSequenceClassification (relative and spatial attention bias on, as
    LayoutLMv3-base) with its processor, saved into `folder` as transformers saves them."""
    tokenizer = bpe_tokenizer(max_text)
    coordinate, shape = layout_embedding_sizes(hidden)
    config = LayoutLMv3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate or 2 * hidden,
        coordinate_size=coordinate,
        shape_size=shape,
        max_position_embeddings=max_text + 2,  # RoBERTa positions start after pad id 1
        input_size=image_size,
        initializer_range=init_range,
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    torch.manual_seed(seed)
    LayoutLMv3ForSequenceClassification(config).eval().save_pretrained(str(folder))
    image_processor = LayoutLMv3ImageProcessorPil(
        apply_ocr=False, size={"height": image_size, "width": image_size}
    )
    LayoutLMv3Processor(image_processor, tokenizer).save_pretrained(str(folder))
    return folder


def import_cli(hf: Path, out: Path) -> int:
    """`docexit import --hf HF --out OUT`; returns its exit code."""
    import argparse

    from docexit.pipeline.cli import import_hf

    parser = argparse.ArgumentParser()
    import_hf.add_arguments(parser)
    return import_hf.main(parser.parse_args(["--hf", str(hf), "--out", str(out)]))


def transformers_logits(
    folder: Path, words: Sequence[str], boxes: Sequence[Sequence[int]], image: Image.Image
) -> np.ndarray:
    """(C,) logits of transformers' own model in `folder`, fed by its own processor
    (`apply_ocr=False`, truncated to the tokenizer's window), fp32 on CPU."""
    processor = LayoutLMv3Processor.from_pretrained(str(folder))
    processor.image_processor.apply_ocr = False
    model = LayoutLMv3ForSequenceClassification.from_pretrained(str(folder)).eval()
    inputs = processor(
        image.convert("RGB"),
        list(words),
        boxes=[list(b) for b in boxes],
        truncation=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        return model(**inputs).logits[0].numpy()


def page_words(n: int, seed: int) -> tuple[list[str], list[tuple[int, int, int, int]]]:
    """`n` words of the synthetic vocabulary with valid random 0-1000 boxes."""
    from docexit.corpus.synth_text import shared_vocabulary

    rng = np.random.default_rng(seed)
    vocabulary = shared_vocabulary()
    words = [vocabulary[int(i)] for i in rng.integers(0, len(vocabulary), n)]
    corners = rng.integers(0, 900, (n, 2))
    sizes = rng.integers(1, 100, (n, 2))
    boxes = [
        (int(x), int(y), int(x + w), int(y + h))
        for (x, y), (w, h) in zip(corners, sizes, strict=True)
    ]
    return words, boxes


def page_image(seed: int, size: tuple[int, int] = (170, 220)) -> Image.Image:
    """A random grey page (mode L, as decoded scans often are)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size[::-1], dtype=np.uint8), mode="L")
