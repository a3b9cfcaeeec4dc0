"""bf16 parity of an imported LayoutLMv3 classifier: docexit's full-depth logits under bf16
autocast (what the engine runs on CUDA) against transformers' own model in fp32, next to the
error transformers' own model shows under the same autocast. The target: docexit's bf16 error is
within transformers' own (it adds none); the fp32 parity (1e-4) is printed too.

    python -m docexit.benchmarks.bf16_parity --hf HF_DIR --model IMPORTED_DIR \\
        [--corpus DIR --split test | --random-pages N] [--device cuda] [--json F]

Pages come from a built corpus (its OCR words, boxes and page images) or, with --random-pages,
are made up (words of the generator's vocabulary, random boxes, random grey images).
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from PIL import Image

Page = tuple[list[str], list[list[int]], Image.Image]
FP32_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Parity:
    """Max absolute logit differences over pages and classes, and label agreement."""

    pages: int
    device: str
    docexit_fp32_vs_transformers_fp32: float
    transformers_bf16_vs_fp32: float  # transformers' own bf16 error: the tolerance
    docexit_bf16_vs_transformers_fp32: float
    docexit_bf16_vs_transformers_bf16: float
    labels_agree_bf16: float  # share of pages whose bf16 labels equal transformers' fp32 ones

    def checks(self) -> list[tuple[bool, str]]:
        """(passed, line) per target."""
        return [
            (
                self.docexit_fp32_vs_transformers_fp32 <= FP32_TOLERANCE,
                f"fp32 parity <= {FP32_TOLERANCE:g}: {self.docexit_fp32_vs_transformers_fp32:.2e}",
            ),
            (
                self.docexit_bf16_vs_transformers_fp32 <= self.transformers_bf16_vs_fp32,
                f"docexit bf16 error {self.docexit_bf16_vs_transformers_fp32:.2e} within "
                f"transformers' own bf16 error {self.transformers_bf16_vs_fp32:.2e}",
            ),
        ]


def corpus_pages(corpus: Path, split: str, limit: int) -> list[Page]:
    """The first `limit` pages of a corpus split: OCR words, boxes, page image."""
    from docexit.corpus.store import load_split

    table = load_split(corpus, split).slice(0, limit).to_pydict()
    return [
        (words, [list(b) for b in boxes], Image.open(io.BytesIO(png)))
        for words, boxes, png in zip(
            table["words"], table["boxes"], table["image_png"], strict=True
        )
    ]


def random_pages(n: int, seed: int = 0) -> list[Page]:
    """`n` made-up pages: 20-700 vocabulary words with valid boxes, a random grey image."""
    import numpy as np

    from docexit.corpus.synth_text import shared_vocabulary

    rng = np.random.default_rng(seed)
    vocabulary = shared_vocabulary()
    pages = []
    for _ in range(n):
        count = int(rng.integers(20, 700))
        words = [vocabulary[int(i)] for i in rng.integers(0, len(vocabulary), count)]
        corners, sizes = rng.integers(0, 900, (count, 2)), rng.integers(1, 100, (count, 2))
        boxes = [
            [int(x), int(y), int(x + w), int(y + h)]
            for (x, y), (w, h) in zip(corners, sizes, strict=True)
        ]
        pixels = rng.integers(0, 256, (1100, 850), dtype=np.uint8)
        pages.append((words, boxes, Image.fromarray(pixels, mode="L")))
    return pages


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on `device` when `bf16`, else a no-op context."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def both_passes(
    forward, inputs: Iterable, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C) fp32 logits and (N, C) bf16-autocast logits of `forward` (one input -> (1, C)
    logits) over the same `inputs`."""
    fp32, bf16 = [], []
    for x in inputs:
        for rows, enabled in ((fp32, False), (bf16, True)):
            with autocast(device, enabled):
                rows.append(forward(x).float().cpu())  # (1, C)
    return torch.cat(fp32), torch.cat(bf16)


@torch.inference_mode()
def transformers_logits(hf: Path, pages: list[Page], device: torch.device):
    """(N, C) fp32 and (N, C) bf16-autocast logits of transformers' own model fed by its own
    processor: the model loaded and each page processed once for both."""
    from transformers import LayoutLMv3ForSequenceClassification, LayoutLMv3Processor

    processor = LayoutLMv3Processor.from_pretrained(str(hf))
    processor.image_processor.apply_ocr = False
    model = LayoutLMv3ForSequenceClassification.from_pretrained(str(hf)).to(device).eval()
    inputs = (
        processor(
            image.convert("RGB"), words, boxes=boxes, truncation=True, return_tensors="pt"
        ).to(device)
        for words, boxes, image in pages
    )
    return both_passes(lambda x: model(**x).logits, inputs, device)


@torch.inference_mode()
def docexit_logits(model_dir: Path, pages: list[Page], device: torch.device):
    """(N, C) fp32 and (N, C) bf16-autocast full-depth logits of the docexit checkpoint through
    its own featurizer: the checkpoint loaded and each page featurized once for both."""
    from docexit.models.batch import collate
    from docexit.models.checkpoint import load_checkpoint
    from docexit.models.tokenizer import featurizer_for

    model = load_checkpoint(model_dir).to(device).eval()
    featurizer = featurizer_for(model)
    inputs = (
        collate([featurizer(words, [tuple(b) for b in boxes], image)]).to(device)
        for words, boxes, image in pages
    )
    return both_passes(lambda x: model(x).logits[-1], inputs, device)


def measure(hf: Path, model_dir: Path, pages: list[Page], device: torch.device) -> Parity:
    """The four logit sets and their differences."""
    theirs32, theirs16 = transformers_logits(hf, pages, device)  # (N, C) each
    ours32, ours16 = docexit_logits(model_dir, pages, device)

    def gap(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a - b).abs().max())

    return Parity(
        pages=len(pages),
        device=str(device),
        docexit_fp32_vs_transformers_fp32=gap(ours32, theirs32),
        transformers_bf16_vs_fp32=gap(theirs16, theirs32),
        docexit_bf16_vs_transformers_fp32=gap(ours16, theirs32),
        docexit_bf16_vs_transformers_bf16=gap(ours16, theirs16),
        labels_agree_bf16=float((ours16.argmax(-1) == theirs32.argmax(-1)).float().mean()),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hf", type=Path, required=True, help="transformers LayoutLMv3 folder")
    parser.add_argument("--model", type=Path, required=True, help="its `docexit import`")
    parser.add_argument("--corpus", type=Path, help="corpus folder (else --random-pages)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--pages", type=int, default=64, help="pages from the corpus")
    parser.add_argument("--random-pages", type=int, default=16)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    if args.corpus is not None:
        pages = corpus_pages(args.corpus, args.split, args.pages)
    else:
        pages = random_pages(args.random_pages)
    parity = measure(args.hf, args.model, pages, torch.device(args.device))
    print(
        f"{parity.pages} pages on {parity.device}; max |logit difference| over pages and classes:"
    )
    for name, value in asdict(parity).items():
        if isinstance(value, float):
            print(
                f"  {name:36s} {value:.3e}" if "agree" not in name else f"  {name:36s} {value:.3f}"
            )
    checks = parity.checks()
    for passed, line in checks:
        print(f"  [{'PASS' if passed else 'FAIL'}] {line}")
    if args.json:
        args.json.write_text(json.dumps(asdict(parity), indent=2))
    return 0 if all(passed for passed, _ in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
