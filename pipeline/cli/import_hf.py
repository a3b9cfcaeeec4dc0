"""Import a transformers LayoutLMv3 classifier (`LayoutLMv3ForSequenceClassification` or
`LayoutLMv3Model` folder saved with `save_pretrained`, with its tokenizer and processor) as a
docexit checkpoint: backbone bit-exact, its classification head as the final exit, its labels.
It runs at full depth with transformers' own logits; `docexit train --from-model OUT
--strategy two_stage` adds exits without changing them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from docexit.pipeline.cli.arguments import USAGE_EXIT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hf", type=Path, required=True, help="transformers LayoutLMv3 folder to import"
    )
    parser.add_argument("--out", type=Path, required=True, help="docexit checkpoint folder")


def main(args: argparse.Namespace) -> int:
    from docexit.models.hf_import import HfImportError, import_checkpoint

    try:
        model = import_checkpoint(args.hf, args.out)
    except HfImportError as error:
        print(f"docexit import: error: {error}", file=sys.stderr)
        return USAGE_EXIT
    config = model.config
    print(
        f"imported {args.hf} -> {args.out}: {config.num_layers} layers, hidden "
        f"{config.backbone.hidden_size}, {len(config.label_names)} labels "
        f"({', '.join(config.label_names[:4])}{', ...' if len(config.label_names) > 4 else ''}), "
        f"{config.max_text_tokens} text tokens, {config.image_size} px images; full depth only"
    )
    return 0
