"""Did adding exits change a model's answers? Compares two checkpoints (an imported classifier
and the same after `docexit train --from-model ... --strategy two_stage`): their backbone and
final-classifier weights, and their full-depth logits on a corpus split, bit for bit.

    python -m docexit.benchmarks.same_answers --before IMPORTED --after WITH_EXITS \\
        --corpus DIR [--split test]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from docexit.models.checkpoint import load_checkpoint
from docexit.models.model import EarlyExitModel
from docexit.models.tokenizer import featurizer_for
from docexit.models.training.dataset import PageDataset
from docexit.models.training.evaluation import collect_logits


def same_weights(before: EarlyExitModel, after: EarlyExitModel) -> bool:
    """Backbone and final classifier equal, tensor for tensor."""
    pairs = ((before.backbone, after.backbone), (before.exits[-1], after.exits[-1]))
    return all(
        torch.equal(new.state_dict()[name], tensor)
        for old, new in pairs
        for name, tensor in old.state_dict().items()
    )


def full_depth_logits(model: EarlyExitModel, corpus: Path, split: str) -> torch.Tensor:
    """(N, C) final-exit logits of every page of the split."""
    pages = PageDataset.from_split(corpus, split, featurizer_for(model), model.label_names)
    return collect_logits(model, pages, 32, torch.device("cpu"))[0][-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the imported checkpoint")
    parser.add_argument("--after", type=Path, required=True, help="the same with exits")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--split", default="test")
    args = parser.parse_args(argv)
    before, after = load_checkpoint(args.before), load_checkpoint(args.after)
    weights = same_weights(before, after)
    old = full_depth_logits(before, args.corpus, args.split)  # (N, C)
    new = full_depth_logits(after, args.corpus, args.split)
    identical = torch.equal(old, new)
    print(f"backbone and final classifier weights equal: {weights}")
    print(
        f"full-depth logits on {old.shape[0]} {args.split} pages: "
        f"{'bit-identical' if identical else 'DIFFER'} (max |difference| "
        f"{float((old - new).abs().max()):.3e}); labels equal on "
        f"{int((old.argmax(-1) == new.argmax(-1)).sum())} of {old.shape[0]}"
    )
    return 0 if weights and identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
