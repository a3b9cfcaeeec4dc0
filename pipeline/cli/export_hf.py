"""Export a docexit checkpoint's backbone and final classifier as a transformers LayoutLMv3
folder (`LayoutLMv3ForSequenceClassification`: config, safetensors, tokenizer, image processor
config) that `from_pretrained` opens with the same full-depth logits. Exit heads, calibration
and the visual exit are not exported."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from docexit.pipeline.cli.arguments import USAGE_EXIT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", type=Path, default=None, help="docexit checkpoint (default: bundled model)"
    )
    parser.add_argument("--hf", type=Path, required=True, help="transformers folder to write")


def main(args: argparse.Namespace) -> int:
    from docexit.models.checkpoint import CheckpointError
    from docexit.models.hf_export import export_checkpoint
    from docexit.models.text_prior import TEXT_PRIOR_FILE
    from docexit.pipeline.defaults import bundled_model_dir
    from docexit.transforms.featurize import TokenizerError

    model_dir = args.model or bundled_model_dir()
    try:
        export_checkpoint(model_dir, args.hf)
    except (CheckpointError, TokenizerError) as error:
        print(f"docexit export: error: {error}", file=sys.stderr)
        return USAGE_EXIT
    print(f"exported {model_dir} -> {args.hf} (LayoutLMv3ForSequenceClassification)")
    if (Path(model_dir) / TEXT_PRIOR_FILE).is_file():
        print(
            f"docexit export: note: {model_dir}'s text prior is not exported (transformers has "
            "no place for it): the exported classifier's labels are its final exit's alone",
            file=sys.stderr,
        )
    return 0
