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
import json
from pathlib import Path

import numpy as np
import torch

from docexit.corpus.archive_text import (
    POOL_WEIGHTS,
    POOLED_FLOOR,
    load_archive_text,
    pooled_out_of_fold_predictions,
)
from docexit.corpus.sources import LABELS
from docexit.models.text_prior import TextPrior
from docexit.models.training.adaptation import load_pages, stratified_folds
from docexit.models.training.metrics import paired_bootstrap
from docexit.models.training.recalibration import ArchiveLogits
from docexit.models.training.text_prior_fit import (
    GRID,
    Grid,
    fold_preparer,
    out_of_fold_text,
    page_texts,
    untrained_prior,
)

FOLD_SEEDS = (0, 1, 2, 3, 4)
# How each exit is combined with text: the (floor, expert) weights it chooses among.
VARIANTS: dict[str, Grid] = {
    "alone": ((0.0,), (0.0,)),
    "+ archive expert": ((0.0,), POOL_WEIGHTS),
    "+ text floor + archive expert": GRID,
}


def cross_fitted_right(
    prior: TextPrior, outputs: ArchiveLogits, text: torch.Tensor, folds: np.ndarray, grid: Grid
) -> np.ndarray:
    """(E, N) whether each exit's label of each page is right when pooled with its text under
    the weights chosen on the other folds' pages, as `docexit calibrate --text-prior` does."""
    prepare = fold_preparer(prior, outputs, text, grid)
    right = np.empty(tuple(outputs.logits.shape[:2]), dtype=bool)
    for fold in np.unique(folds):
        held = np.flatnonzero(folds == fold)
        logits = prepare(torch.from_numpy(np.flatnonzero(folds != fold))).logits[:, held]
        right[:, held] = (logits.argmax(-1) == outputs.labels[held]).numpy()
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
    table = load_pages(corpus)
    try:
        texts, rows = page_texts(table, hashes, str(corpus))  # outputs' page i: corpus row rows[i]
    except ValueError as error:
        raise SystemExit(f"{out_of_fold}: {error}") from error
    labels = np.asarray(table.column("label_id").to_pylist())
    ordered = labels[rows]
    if not np.array_equal(ordered, outputs.labels.numpy()):
        raise SystemExit(f"{out_of_fold} labels its pages differently from {corpus}")
    archive = load_archive_text(archive_text)
    adapt_folds = stratified_folds(labels, folds)  # the folds `docexit adapt` used
    # every word, as the floors of `docexit corpus --baseline-text` it is compared with
    prior = untrained_prior(texts, ordered, archive, len(exit_names), len(LABELS), None)
    text = out_of_fold_text(texts, ordered, prior, adapt_folds[rows])  # (N, 2, C)
    assignments = [stratified_folds(ordered, folds, seed) for seed in FOLD_SEEDS]
    right = {
        variant: np.mean(
            [cross_fitted_right(prior, outputs, text, f, grid) for f in assignments], 0
        )
        for variant, grid in VARIANTS.items()
    }  # variant -> (E, N), mean over the assignments
    exits = [
        {"exit": name} | {variant: float(r[e].mean()) for variant, r in right.items()}
        for e, name in enumerate(exit_names)
    ]
    all_texts = [" ".join(map(str, words)) for words in table.column("words").to_pylist()]
    expert = prior.expert.probabilities(all_texts, len(LABELS))  # trained once, above
    floor_predictions, _ = pooled_out_of_fold_predictions(
        all_texts, labels, adapt_folds, archive, expert
    )
    floor_right = (floor_predictions == labels)[rows]  # (N,) in outputs' order
    final_right = np.stack(
        [
            cross_fitted_right(prior, outputs, text, adapt_folds[rows], grid)[-1]
            for grid in VARIANTS.values()
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
