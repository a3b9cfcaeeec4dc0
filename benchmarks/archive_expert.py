"""What labelled archive text (e.g. Tobacco-3482's OCR text) would give the model on real pages,
measured out of fold without training anything: each exit's out-of-fold logits from `docexit adapt`
(`out_of_fold_outputs.safetensors`) pooled with an archive-text expert, as the pooled text floor
is (`docexit corpus --baseline-text`), against that floor on the same pages and folds.

    python -m docexit.benchmarks.archive_expert --out-of-fold out/cv/out_of_fold_outputs.safetensors \\
        --corpus data/real148 --archive-text ../shared/data/tobacco3482-ocr/documents.jsonl.gz

The expert is a text classifier trained on the archive text alone, which holds none of the real
pages. For each page the pool weight is chosen on the other folds' pages (cross-fitted, as
`docexit calibrate --out-of-fold` fits calibrations), over several fold assignments.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from docexit.corpus.archive_text import (
    POOLED_FLOOR,
    archive_expert,
    chosen_pool_weight,
    load_archive_text,
    pool_within_covered,
    pooled_out_of_fold_predictions,
)
from docexit.corpus.sources import LABELS
from docexit.models.training.adaptation import load_pages, stratified_folds
from docexit.models.training.metrics import paired_bootstrap
from docexit.models.training.recalibration import ArchiveLogits

FOLD_SEEDS = (0, 1, 2, 3, 4)


def cross_fitted_pool(
    probabilities: np.ndarray,
    expert: np.ndarray,
    labels: np.ndarray,
    covered: np.ndarray,
    folds: np.ndarray,
) -> np.ndarray:
    """(N, C) `probabilities` pooled with the expert, each fold's weight chosen on the others."""
    pooled = np.empty_like(probabilities)
    for fold in np.unique(folds):
        rest, held = folds != fold, folds == fold
        weight = chosen_pool_weight(probabilities[rest], expert[rest], labels[rest], covered)
        pooled[held] = pool_within_covered(probabilities[held], expert[held], covered, weight)
    return pooled


def measure(
    out_of_fold: Path, corpus: Path, archive_text: Path, exit_names: list[str], folds: int = 5
) -> dict:
    """Per exit (`exit_names`, in the outputs' order): out-of-fold accuracy alone and pooled with the archive expert (mean over the
    fold assignments); the final exit, alone and pooled, against the pooled text floor, paired."""
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
    covered = np.asarray(sorted(archive.classes))
    expert = archive_expert(archive, texts)[order]  # (N, C) in outputs' order
    ordered = labels[order]
    probabilities = torch.softmax(outputs.logits.float(), dim=-1).numpy()  # (E, N, C)
    exits = []
    for name, exit_probabilities in zip(exit_names, probabilities, strict=True):
        pooled = [
            cross_fitted_pool(
                exit_probabilities, expert, ordered, covered, stratified_folds(ordered, folds, s)
            ).argmax(1)
            == ordered
            for s in FOLD_SEEDS
        ]  # one (N,) per fold assignment
        alone = exit_probabilities.argmax(1) == ordered
        exits.append({"exit": name, "alone": float(alone.mean()), "pooled": float(np.mean(pooled))})
    floor_predictions, _ = pooled_out_of_fold_predictions(
        texts, labels, stratified_folds(labels, folds), archive
    )  # the folds `docexit adapt` used
    floor_right = (floor_predictions == labels)[order].astype(np.float64)  # (N,)
    final = probabilities[-1]  # (N, C)
    folds_of_adapt = stratified_folds(ordered, folds)
    pooled_right = cross_fitted_pool(final, expert, ordered, covered, folds_of_adapt).argmax(1)
    rights = np.stack([final.argmax(1) == ordered, pooled_right == ordered]).astype(np.float64)
    diff, low, high = paired_bootstrap(rights - floor_right)  # (2,) each: alone, pooled
    return {
        "pages": len(ordered),
        "exits": exits,
        "floor": {"name": POOLED_FLOOR, "accuracy": float(floor_right.mean())},
        "final_minus_floor": {
            kind: [float(diff[i]), float(low[i]), float(high[i])]
            for i, kind in enumerate(("alone", "pooled"))
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
    print(f"{result['pages']} real pages, out of fold; exit: alone -> pooled with archive expert")
    for row in result["exits"]:
        print(f"  {row['exit']:<10} {row['alone']:.3f} -> {row['pooled']:.3f}")
    for kind, (diff, low, high) in result["final_minus_floor"].items():
        print(
            f"final exit {kind} minus the pooled text floor ({result['floor']['accuracy']:.3f}, "
            f"same folds): {100 * diff:+.1f} points, 95% interval [{100 * low:+.1f}, "
            f"{100 * high:+.1f}]"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
