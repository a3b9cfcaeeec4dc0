"""A stand-in for a user's own fine-tuned LayoutLMv3 classifier, made with plain transformers
code (no pretrained LayoutLMv3 weights can be downloaded here): a byte-level BPE tokenizer
trained on the corpus's training words and a `LayoutLMv3ForSequenceClassification` fine-tuned on
the training split through `LayoutLMv3Processor(apply_ocr=False)`, saved with
`save_pretrained`. `evaluate` scores a transformers folder on a split the same way.

`--init minilm` (default) starts its encoder from all-MiniLM-L6-v2, the one pretrained text
model here (6 layers, hidden 384): each BPE token's embedding is the mean of MiniLM's WordPiece
embeddings of its text, RoBERTa's special tokens take BERT's ([CLS], [SEP], [PAD], ...), layout,
patch and relative-position parts start fresh. `--init random` trains from random weights.

    python -m docexit.benchmarks.byo_standin train --corpus DIR --out HF_DIR
    python -m docexit.benchmarks.byo_standin evaluate --corpus DIR --hf HF_DIR
    python -m docexit.benchmarks.byo_standin random --out HF_DIR   # untrained, LayoutLMv3-base size
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
from docexit.models.backbone import (
    layout_embedding_sizes,
    load_minilm_weights,
    minilm_backbone_config,
    minilm_weights,
)
from docexit.models.tokenizer import minilm_tokenizer_dir
from docexit.transforms.records import LABELS

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
BERT_SPECIAL = {
    "<s>": "[CLS]",
    "<pad>": "[PAD]",
    "</s>": "[SEP]",
    "<unk>": "[UNK]",
    "<mask>": "[MASK]",
}


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


@torch.no_grad()
def transferred_embeddings(tokenizer) -> torch.Tensor:
    """(V, 384) embeddings for a BPE vocabulary from MiniLM's WordPiece ones: each token's row
    is the mean of the rows of its text's WordPiece pieces; special tokens take BERT's."""
    from transformers import BertTokenizerFast

    wordpiece = BertTokenizerFast.from_pretrained(str(minilm_tokenizer_dir()))
    table = minilm_weights()["embeddings.word_embeddings.weight"]  # (30522, 384)
    rows = torch.empty(len(tokenizer), table.shape[1])
    for token, index in tokenizer.get_vocab().items():
        if token in BERT_SPECIAL:
            pieces = [wordpiece.convert_tokens_to_ids(BERT_SPECIAL[token])]
        else:
            text = tokenizer.convert_tokens_to_string([token]).strip()
            pieces = wordpiece(text, add_special_tokens=False)["input_ids"] or [
                wordpiece.unk_token_id
            ]
        rows[index] = table[pieces].mean(0)
    return rows


def standin_config(tokenizer, args: argparse.Namespace):
    """The stand-in's LayoutLMv3 config: MiniLM's shape with `--init minilm`, else --hidden and
    --layers; the BPE tokenizer's ids; the 16 RVL-CDIP labels."""
    from transformers import LayoutLMv3Config

    if args.init == "minilm":
        shape = minilm_backbone_config().to_dict()
        hidden, layers = shape["hidden_size"], shape["num_hidden_layers"]
        heads = shape["num_attention_heads"]  # 12
        positions = shape["max_position_embeddings"] + 1  # 512 rows after pad id 1
        attention_bias = False  # MiniLM has none (as docexit's own warm start)
    else:
        hidden, layers, heads = args.hidden, args.layers, args.hidden // 64
        positions = args.max_length + 2
        attention_bias = True  # LayoutLMv3's default
    coordinate, shape_size = layout_embedding_sizes(hidden)  # 4 * c + 2 * s == hidden
    return LayoutLMv3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        coordinate_size=coordinate,
        shape_size=shape_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
        max_position_embeddings=positions,
        input_size=args.image_size,
        has_relative_attention_bias=attention_bias,
        has_spatial_attention_bias=attention_bias,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        id2label=dict(enumerate(LABELS)),
        label2id={name: i for i, name in enumerate(LABELS)},
    )


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


def new_classifier(words: list[list[str]], args: argparse.Namespace):
    """(model, processor, names of the pretrained parameters): a BPE tokenizer trained on
    `words` and a LayoutLMv3 classifier started as --init says."""
    from transformers import (
        LayoutLMv3ForSequenceClassification,
        LayoutLMv3ImageProcessorPil,
        LayoutLMv3Processor,
    )

    torch.manual_seed(args.seed)
    tokenizer = train_tokenizer(words, args.max_length)
    size = {"height": args.image_size, "width": args.image_size}
    processor = LayoutLMv3Processor(
        LayoutLMv3ImageProcessorPil(apply_ocr=False, size=size), tokenizer
    )
    model = LayoutLMv3ForSequenceClassification(standin_config(tokenizer, args))
    pretrained: set[str] = set()
    if args.init == "minilm":
        embeddings = transferred_embeddings(tokenizer)
        written = load_minilm_weights(model.layoutlmv3, word_embeddings=embeddings)
        pretrained = {f"layoutlmv3.{name}" for name in written}
    return model, processor, pretrained


def fine_tune(args: argparse.Namespace) -> None:
    """Tokenizer + LayoutLMv3 classifier trained on the corpus, saved into --out."""
    words = load_split(args.corpus, "train").column("words").to_pylist()
    model, processor, pretrained = new_classifier(words, args)
    inputs, labels = encode_split(processor, args.corpus, "train")
    fit(model, inputs, labels, pretrained, args)
    model.eval().save_pretrained(str(args.out))
    processor.save_pretrained(str(args.out))


def fit(model, inputs: dict, labels: torch.Tensor, pretrained: set[str], args) -> None:
    """AdamW with linear warm-up and decay: --lr-pretrained for the MiniLM weights, --lr for
    the rest; one line per epoch."""
    from transformers import get_linear_schedule_with_warmup

    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if n in pretrained], "lr": args.lr_pretrained},
        {"params": [p for n, p in named if n not in pretrained], "lr": args.lr},
    ]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=0.01)
    steps = args.epochs * -(-len(labels) // args.batch_size)
    schedule = get_linear_schedule_with_warmup(optimizer, steps // 10, steps)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(labels))
        total = 0.0
        for step, chunk in enumerate(order.split(args.batch_size), start=1):
            batch = {k: v[chunk] for k, v in inputs.items()}
            loss = model(**batch, labels=labels[chunk]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(chunk)
            if step % 10 == 0:
                print(f"  epoch {epoch + 1} step {step}: loss {loss.item():.4f}", flush=True)
        elapsed = time.perf_counter() - start
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / len(labels):.4f} ({elapsed:.0f} s)")
    print(f"trained in {time.perf_counter() - start:.0f} s")


def untrained(args: argparse.Namespace) -> None:
    """A random-weight classifier of --hidden/--layers (default LayoutLMv3-base's shape), its
    tokenizer trained on the generator's vocabulary, saved into --out: for speed and parity
    checks where no corpus is at hand (benchmarks/gpu.sh)."""
    from docexit.corpus.synth_text import shared_vocabulary

    args.init = "random"
    model, processor, _ = new_classifier([list(shared_vocabulary())], args)
    model.eval().save_pretrained(str(args.out))
    processor.save_pretrained(str(args.out))
    print(f"saved a random {args.layers}-layer, {args.hidden}-hidden LayoutLMv3 into {args.out}")


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
    train = sub.add_parser("train", help="fine-tune a stand-in on a corpus")
    train.add_argument("--corpus", type=Path, required=True)
    train.add_argument("--out", type=Path, required=True)
    train.add_argument("--hidden", type=int, default=128, help="with --init random")
    train.add_argument("--layers", type=int, default=4, help="with --init random")
    train.add_argument("--max-length", type=int, default=192)
    train.add_argument("--image-size", type=int, default=128)
    train.add_argument("--epochs", type=int, default=3)
    train.add_argument("--batch-size", type=int, default=16)
    train.add_argument("--init", choices=["minilm", "random"], default="minilm")
    train.add_argument("--lr", type=float, default=5e-4, help="fresh weights")
    train.add_argument("--lr-pretrained", type=float, default=1e-4, help="MiniLM's weights")
    train.add_argument("--seed", type=int, default=0)
    random = sub.add_parser("random", help="save an untrained classifier (speed, parity)")
    random.add_argument("--out", type=Path, required=True)
    random.add_argument("--hidden", type=int, default=768)
    random.add_argument("--layers", type=int, default=12)
    random.add_argument("--max-length", type=int, default=512)
    random.add_argument("--image-size", type=int, default=224)
    random.add_argument("--seed", type=int, default=0)
    evaluate = sub.add_parser("evaluate", help="accuracy of a transformers folder on a split")
    evaluate.add_argument("--corpus", type=Path, required=True)
    evaluate.add_argument("--hf", type=Path, required=True)
    evaluate.add_argument("--split", default="test")
    args = parser.parse_args(argv)
    {"train": fine_tune, "random": untrained, "evaluate": accuracy}[args.command](args)


if __name__ == "__main__":
    main()
