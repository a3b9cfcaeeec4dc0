"""What text would give the model on real pages, measured out of fold without training anything:
each exit's out-of-fold outputs from `docexit adapt` (`out_of_fold_outputs.safetensors`) alone,
pooled with an expert trained on labelled archive text (e.g. Tobacco-3482's OCR text) within the
classes it covers, and also pooled with the real-pages text floor; against the best text floor
(`docexit corpus --baseline-text`: the floor pooled with the same expert) on the same folds.

    python -m docexit.benchmarks.archive_expert \\
        --out-of-fold out/cv/out_of_fold_outputs.safetensors --corpus data/real148 \\
        --archive-text ../shared/data/tobacco3482-ocr/documents.jsonl.gz

The expert is trained on the archive text alone, which holds none of the real pages; the floor's
probabilities are out of fold on adapt's folds. The pooling weights of each page are chosen on
the other folds' pages (cross-fitted, as `docexit calibrate --out-of-fold` fits calibrations),
over several fold assignments.
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from docexit.corpus.archive_text import (
    POOL_WEIGHTS,
    POOLED_FLOOR,
    archive_expert,
    load_archive_text,
    pooled_out_of_fold_predictions,
)
from docexit.corpus.baseline import out_of_fold_probabilities
from docexit.corpus.sources import LABELS
from docexit.models.text_prior import TINY, pool_log_probs
from docexit.models.training.adaptation import load_pages, stratified_folds
from docexit.models.training.metrics import paired_bootstrap
from docexit.models.training.recalibration import ArchiveLogits

FOLD_SEEDS = (0, 1, 2, 3, 4)
FLOOR_WEIGHTS = (0.0, 0.25, 0.5, 0.75)  # the text floor's weight in a log-linear pool
# How each exit is combined with text: (floor weights, expert weights) to choose among.
VARIANTS = {
    "alone": ((0.0,), (0.0,)),
    "+ archive expert": ((0.0,), POOL_WEIGHTS),
    "+ text floor + archive expert": (FLOOR_WEIGHTS, POOL_WEIGHTS),
}


@dataclass(frozen=True)
class PageText:
    """What text classifiers say of each page (N pages, C classes): the archive expert's
    probabilities, the real-pages text floor's out of fold, and the classes the archive covers."""

    expert: np.ndarray  # (N, C)
    floor: np.ndarray  # (N, C)
    covered: np.ndarray  # (K,)


def with_text(
    probabilities: np.ndarray, text: PageText, rows: np.ndarray, floor_weight: float, weight: float
) -> np.ndarray:
    """(n, C) the exit's `probabilities` of pages `rows` in a log-linear pool with the text
    floor's, then re-split within the covered classes by the archive expert."""
    pooled = pool_log_probs(
        torch.log(torch.from_numpy(probabilities) + TINY),
        torch.from_numpy(text.floor[rows]),
        torch.from_numpy(text.expert[rows]),
        torch.from_numpy(text.covered),
        floor_weight,
        weight,
    )
    return pooled.exp().numpy()


def cross_fitted_right(
    probabilities: np.ndarray,
    text: PageText,
    labels: np.ndarray,
    folds: np.ndarray,
    weights: tuple[tuple[float, ...], tuple[float, ...]],
) -> np.ndarray:
    """(N,) whether each page is right when combined with text under the weights (floor,
    expert) that are most often right on the other folds' pages."""
    right = np.empty(len(labels), dtype=bool)
    for fold in np.unique(folds):
        rest, held = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        chosen = max(
            itertools.product(*weights),
            key=lambda fw: np.mean(
                with_text(probabilities[rest], text, rest, *fw).argmax(1) == labels[rest]
            ),
        )
        combined = with_text(probabilities[held], text, held, *chosen)
        right[held] = combined.argmax(1) == labels[held]
    return right


def measure(
    out_of_fold: Path, corpus: Path, archive_text: Path, exit_names: list[str], folds: int = 5
) -> dict:
    """Per exit (`exit_names`, in the outputs' order) and `VARIANTS` entry: out-of-fold accuracy
    (mean over the fold assignments); and the final exit under each against the pooled text
    floor, paired, on the folds `docexit adapt` used."""
    outputs, hashes = ArchiveLogits.load(out_of_fold)
    if outputs.logits.shape[-1] != len(LABELS):
        raise SystemExit(f"{out_of_fold}: {outputs.logits.shape[-1]} classes, not RVL-CDIP's 16")
    pages = load_pages(corpus).to_pydict()
    row_of = {h: i for i, h in enumerate(pages["content_hash"])}
    missing = [h for h in hashes if h not in row_of]
    if missing:
        raise SystemExit(f"{len(missing)} pages of {out_of_fold} are not in {corpus}")
    labels = np.asarray(pages["label_id"])
    texts = [" ".join(words) for words in pages["words"]]
    order = np.asarray([row_of[h] for h in hashes])  # outputs' page i is corpus row order[i]
    if not np.array_equal(labels[order], outputs.labels.numpy()):
        raise SystemExit(f"{out_of_fold} labels its pages differently from {corpus}")
    archive = load_archive_text(archive_text)
    adapt_folds = stratified_folds(labels, folds)  # the folds `docexit adapt` used
    text = PageText(
        expert=archive_expert(archive, texts)[order],
        floor=out_of_fold_probabilities(texts, labels, adapt_folds)[order],
        covered=np.asarray(sorted(archive.classes)),
    )
    ordered = labels[order]
    probabilities = torch.softmax(outputs.logits.float(), dim=-1).numpy()  # (E, N, C)
    assignments = [stratified_folds(ordered, folds, seed) for seed in FOLD_SEEDS]
    exits = [
        {"exit": name}
        | {
            variant: float(
                np.mean([cross_fitted_right(p, text, ordered, f, w) for f in assignments])
            )
            for variant, w in VARIANTS.items()
        }
        for name, p in zip(exit_names, probabilities, strict=True)
    ]
    floor_predictions, _ = pooled_out_of_fold_predictions(texts, labels, adapt_folds, archive)
    floor_right = (floor_predictions == labels)[order]  # (N,) in outputs' order
    final_right = np.stack(
        [
            cross_fitted_right(probabilities[-1], text, ordered, adapt_folds[order], w)
            for w in VARIANTS.values()
        ]
    )  # (V, N)
    diff, low, high = paired_bootstrap(final_right.astype(float) - floor_right)  # (V,) each
    return {
        "pages": len(ordered),
        "exits": exits,
        "floor": {"name": POOLED_FLOOR, "accuracy": float(floor_right.mean())},
        "final_minus_floor": {
            variant: [float(diff[i]), float(low[i]), float(high[i])]
            for i, variant in enumerate(VARIANTS)
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-of-fold", type=Path, required=True, help="docexit adapt's file")
    parser.add_argument("--corpus", type=Path, required=True, help="the real pages' corpus")
    parser.add_argument("--archive-text", type=Path, required=True, help="labelled JSON lines")
    parser.add_argument("--folds", type=int, default=5, help="the folds adapt used")
    parser.add_argument(
        "--model", type=Path, default=None, help="the adapted model, for its exits' names"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    from docexit.models.checkpoint import load_checkpoint
    from docexit.models.training.evaluation import exit_names
    from docexit.pipeline.defaults import bundled_model_dir

    model = load_checkpoint(args.model or bundled_model_dir(), device=torch.device("cpu"))
    names = exit_names(model)
    result = measure(args.out_of_fold, args.corpus, args.archive_text, names, args.folds)
    print(f"{result['pages']} real pages, out of fold; each exit " + " / ".join(VARIANTS))
    for row in result["exits"]:
        print(f"  {row['exit']:<10} " + " / ".join(f"{row[v]:.3f}" for v in VARIANTS))
    for kind, (diff, low, high) in result["final_minus_floor"].items():
        print(
            f"final exit, {kind}, minus the pooled text floor ({result['floor']['accuracy']:.3f}, "
            f"same folds): {100 * diff:+.1f} points, 95% interval [{100 * low:+.1f}, "
            f"{100 * high:+.1f}]"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
