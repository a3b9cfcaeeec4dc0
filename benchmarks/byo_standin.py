"""A stand-in for a user's own fine-tuned LayoutLMv3 classifier, made with plain transformers
code (no pretrained weights can be downloaded here): a byte-level BPE tokenizer trained on the
corpus's training words, a small random `LayoutLMv3ForSequenceClassification` fine-tuned on
the training split through `LayoutLMv3Processor(apply_ocr=False)`, saved with
`save_pretrained`. `evaluate` scores a transformers folder on a split the same way.

    python -m docexit.benchmarks.byo_standin train --corpus DIR --out HF_DIR
    python -m docexit.benchmarks.byo_standin evaluate --corpus DIR --hf HF_DIR
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import torch
from PIL import Image

from docexit.corpus.store import load_split
from docexit.models.backbone import layout_embedding_sizes
from docexit.transforms.records import LABELS

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def bpe_vocab_and_merges(
    texts: Iterable[str], vocab_size: int, min_frequency: int = 2
) -> tuple[dict[str, int], list[tuple[str, ...]]]:
    """A byte-level BPE vocabulary and merges trained on `texts`, RoBERTa's special tokens first
    (`<s>`=0, `<pad>`=1, `</s>`=2): what `LayoutLMv3TokenizerFast` is built from."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer(add_prefix_space=True)
    bpe.train_from_iterator(
        texts,
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        show_progress=False,
    )
    with tempfile.TemporaryDirectory() as folder:
        bpe.save_model(folder)
        vocab = json.loads((Path(folder) / "vocab.json").read_text())
        lines = (Path(folder) / "merges.txt").read_text().splitlines()[1:]  # after the header
    return vocab, [tuple(line.split()) for line in lines if line.strip()]


def train_tokenizer(words: list[list[str]], max_length: int, vocab_size: int = 4000):
    """A LayoutLMv3 byte-level BPE tokenizer trained on the pages' words."""
    from transformers import LayoutLMv3TokenizerFast

    vocab, merges = bpe_vocab_and_merges((" ".join(page) for page in words), vocab_size)
    return LayoutLMv3TokenizerFast(vocab=vocab, merges=merges, model_max_length=max_length)


def encode_split(processor, corpus: Path, split: str) -> tuple[dict, torch.Tensor]:
    """Every page of a split through the processor (padded to the window), and its labels."""
    table = load_split(corpus, split).to_pydict()
    images = [Image.open(io.BytesIO(png)).convert("RGB") for png in table["image_png"]]
    inputs = processor(
        images,
        table["words"],
        boxes=[[list(b) for b in page] for page in table["boxes"]],
        truncation=True,
        padding="max_length",
        return_tensors="pt",
    )
    return dict(inputs), torch.tensor(table["label_id"])


def fine_tune(args: argparse.Namespace) -> None:
    """Tokenizer + small LayoutLMv3 classifier trained on the corpus, saved into --out."""
    from transformers import (
        LayoutLMv3Config,
        LayoutLMv3ForSequenceClassification,
        LayoutLMv3ImageProcessorPil,
        LayoutLMv3Processor,
    )

    torch.manual_seed(args.seed)
    words = load_split(args.corpus, "train").column("words").to_pylist()
    tokenizer = train_tokenizer(words, args.max_length)
    size = {"height": args.image_size, "width": args.image_size}
    processor = LayoutLMv3Processor(
        LayoutLMv3ImageProcessorPil(apply_ocr=False, size=size), tokenizer
    )
    coordinate, shape = layout_embedding_sizes(args.hidden)  # 4 * c + 2 * s == hidden
    config = LayoutLMv3Config(
        vocab_size=len(tokenizer),
        hidden_size=args.hidden,
        coordinate_size=coordinate,
        shape_size=shape,
        num_hidden_layers=args.layers,
        num_attention_heads=args.hidden // 64,
        intermediate_size=4 * args.hidden,
        max_position_embeddings=args.max_length + 2,
        input_size=args.image_size,
        id2label=dict(enumerate(LABELS)),
        label2id={name: i for i, name in enumerate(LABELS)},
    )
    model = LayoutLMv3ForSequenceClassification(config)
    inputs, labels = encode_split(processor, args.corpus, "train")
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(labels))
        total = 0.0
        for chunk in order.split(args.batch_size):
            batch = {k: v[chunk] for k, v in inputs.items()}
            loss = model(**batch, labels=labels[chunk]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss) * len(chunk)
        print(f"epoch {epoch + 1}: loss {total / len(labels):.4f}")
    print(f"trained in {time.perf_counter() - start:.0f} s")
    model.eval().save_pretrained(str(args.out))
    processor.save_pretrained(str(args.out))


@torch.no_grad()
def accuracy(args: argparse.Namespace) -> float:
    """Accuracy of a transformers folder on --split, fed by its own processor."""
    from transformers import LayoutLMv3ForSequenceClassification, LayoutLMv3Processor

    processor = LayoutLMv3Processor.from_pretrained(str(args.hf))
    model = LayoutLMv3ForSequenceClassification.from_pretrained(str(args.hf)).eval()
    inputs, labels = encode_split(processor, args.corpus, args.split)
    predictions = torch.cat(
        [
            model(**{k: v[chunk] for k, v in inputs.items()}).logits.argmax(-1)
            for chunk in torch.arange(len(labels)).split(32)
        ]
    )
    score = float((predictions == labels).float().mean())
    print(
        f"transformers full depth, {args.split} split ({len(labels)} pages): accuracy {score:.3f}"
    )
    return score


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train")
    train.add_argument("--corpus", type=Path, required=True)
    train.add_argument("--out", type=Path, required=True)
    train.add_argument("--hidden", type=int, default=128)
    train.add_argument("--layers", type=int, default=4)
    train.add_argument("--max-length", type=int, default=192)
    train.add_argument("--image-size", type=int, default=128)
    train.add_argument("--epochs", type=int, default=12)
    train.add_argument("--batch-size", type=int, default=16)
    train.add_argument("--lr", type=float, default=5e-4)
    train.add_argument("--seed", type=int, default=0)
    evaluate = sub.add_parser("evaluate")
    evaluate.add_argument("--corpus", type=Path, required=True)
    evaluate.add_argument("--hf", type=Path, required=True)
    evaluate.add_argument("--split", default="test")
    args = parser.parse_args(argv)
    if args.command == "train":
        fine_tune(args)
    else:
        accuracy(args)


if __name__ == "__main__":
    main()
