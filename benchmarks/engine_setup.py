"""The pages, model and exit policy `docexit bench engine` (and the design study) time: generated
pages (the generator's own words and boxes, no OCR) or a built corpus's splits; the bundled
model, a checkpoint, or a random LayoutLMv3-base-size one for speed only."""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from docexit.models.batch import collate
from docexit.models.model import EarlyExitModel
from docexit.models.policies import ExitPolicy, MaxProbThreshold, PerExitThresholds
from docexit.transforms.records import LABELS, PageFeatures

Page = tuple[PageFeatures, int]  # features, label id

# ---- pages ------------------------------------------------------------------------------------


def _synthetic_chunk(task: tuple[int, int, int, str, int, int]) -> list[tuple[PageFeatures, str]]:
    """Pages `start..stop` of seed `seed`, featurized (a worker function)."""
    from docexit.corpus.synth import generate_page
    from docexit.transforms.featurize import Featurizer

    seed, start, stop, tokenizer_dir, max_text, image_size = task
    featurizer = Featurizer(tokenizer_dir, max_text, image_size)
    out = []
    for i in range(start, stop):
        label = LABELS[i % len(LABELS)]
        page = generate_page(label, random.Random(seed * 1_000_003 + i))
        out.append((featurizer(page.words, page.boxes, page.image), label))
    return out


def synthetic_pages(n: int, model: EarlyExitModel, seed: int = 0, workers: int = 1) -> list[Page]:
    """`n` generated pages, classes in turn, featurized from the generator's ground truth."""
    from docexit.models.tokenizer import tokenizer_source

    source = str(tokenizer_source(model))
    max_text, image_size = int(model.config.max_text_tokens), model.config.image_size
    chunk = max(1, -(-n // max(1, workers * 4)))
    tasks = [(seed, s, min(n, s + chunk), source, max_text, image_size) for s in range(0, n, chunk)]
    if workers <= 1:
        chunks = map(_synthetic_chunk, tasks)
    else:
        import multiprocessing

        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        chunks = pool.map(_synthetic_chunk, tasks)
    label2id = model.config.label2id
    pages = [(f, label2id.get(label, -1)) for part in chunks for f, label in part]
    if workers > 1:
        pool.shutdown()
    return pages


def corpus_pages(
    corpus: Path, split: str, model: EarlyExitModel, limit: int, text_folds: int | None = None
) -> list[Page]:
    """The first `limit` pages of built corpus splits (comma-separated, in that order; OCR
    words from the corpus), with the text prior's features when the model has one: as the
    pipeline's featurizer makes them, or with `text_folds`, the floor's from floors trained on
    the other folds of these pages (for pages the prior was fitted on, as `docexit calibrate`
    scores them)."""
    from docexit.models.tokenizer import featurizer_for
    from docexit.models.training.dataset import PageDataset

    featurizer = featurizer_for(model)
    pages: list[Page] = []
    texts: list[str] = []
    for name in split.split(","):
        if len(pages) >= limit:
            break
        dataset = PageDataset.from_split(
            corpus, name.strip(), featurizer, model.label_names, limit - len(pages)
        )
        pages += [dataset[i] for i in range(len(dataset))]
        texts += dataset.texts
    if model.text_prior is None:
        return pages
    return [
        (replace(f, text=t), y)
        for (f, y), t in zip(pages, text_features(model, texts, pages, text_folds), strict=True)
    ]


def text_features(
    model: EarlyExitModel, texts: list[str], pages: list[Page], folds: int | None
) -> np.ndarray:
    """(N, 2, C) the pages' text prior features, the floor's out of fold with `folds`."""
    if folds is None:
        return model.text_prior.page_probabilities(texts)
    from docexit.models.training.adaptation import stratified_folds
    from docexit.models.training.text_prior_fit import out_of_fold_text

    labels = np.asarray([y for _, y in pages])
    assignment = stratified_folds(labels, folds)
    return out_of_fold_text(texts, labels, model.text_prior, assignment).numpy()


# ---- models -------------------------------------------------------------------------------------


def random_base_model() -> EarlyExitModel:
    """LayoutLMv3-base size (12 layers, hidden 768, 12 heads, relative + spatial bias, 224 px),
    the paper's "quarter" exits plus text and vision exits, random weights."""
    from docexit.models.factory import build_model

    torch.manual_seed(0)
    model = build_model(
        init="random",
        placement="quarter",
        modality="independent",
        max_length=512,
        backbone_overrides={"max_position_embeddings": 514},  # as LayoutLMv3-base: 512 tokens
    )
    return spread_exit_heads(model, model.exits)


def with_random_exits(model: EarlyExitModel, placement: str) -> EarlyExitModel:
    """`model` (an imported classifier, say) with untrained exits at `placement` before its
    own final classifier, which stays bit-exact: for speed tests."""
    from docexit.models.exits import exit_plan
    from docexit.models.factory import parse_placement, with_new_exits

    torch.manual_seed(0)
    plan = exit_plan(model.num_layers, parse_placement(placement), "independent")
    new = with_new_exits(model, plan)
    return spread_exit_heads(new, new.exits[:-1])


@torch.no_grad()
def spread_exit_heads(model: EarlyExitModel, heads: torch.nn.Module) -> EarlyExitModel:
    """Random exit heads' weights scaled up so that confidences spread and pages exit at
    different depths (eval mode)."""
    for module in heads.modules():
        if isinstance(module, torch.nn.Linear):
            module.weight.normal_(std=0.05)
    return model.eval()


def quantile_policy(
    model: EarlyExitModel, pages: Sequence[Page], share: float = 0.3, sample: int = 64
) -> PerExitThresholds:
    """Thresholds that let about `share` of the pages exit at each exit (a speed test's policy
    for models without a chosen one): the (1 - share) quantile of each exit's confidence."""
    from docexit.models.policies import exit_confidence

    features = [f for f, _ in pages[:sample]]
    with torch.inference_mode():
        out = model(collate(features).to(next(model.parameters()).device))
    thresholds = []
    for e, t in enumerate(model.temperatures[:-1]):
        gate = out.gate_logits[e] if model.has_gate[e] else None
        scores = exit_confidence(out.logits[e].float() / t, gate).cpu()
        thresholds.append(float(torch.quantile(scores, 1.0 - share)))
    return PerExitThresholds((*thresholds, 1.0))


def load_model(args: argparse.Namespace) -> tuple[EarlyExitModel, str]:
    """The model to benchmark and a name for it (raises MissingModelError without one)."""
    from docexit.models.checkpoint import load_checkpoint

    if args.random_base:
        return random_base_model(), "random LayoutLMv3-base size (12x768)"
    if args.model is None:
        from docexit.pipeline.defaults import bundled_model_dir

        folder = bundled_model_dir()
        return load_checkpoint(folder), f"bundled ({folder})"
    model = load_checkpoint(args.model)
    if args.add_exits:
        return with_random_exits(model, args.add_exits), f"{args.model} + random exits"
    return model, str(args.model)


def choose_policy(
    args: argparse.Namespace, model: EarlyExitModel, pages: Sequence[Page]
) -> tuple[ExitPolicy, str]:
    """`--threshold`, `--exit-share`, else the policy saved with the model (chosen on
    validation), else quantile thresholds (random models)."""
    from docexit.models.policies import policy_from_dict

    num_exits = len(model.exits)
    if args.threshold is not None:
        return MaxProbThreshold(args.threshold, num_exits), "--threshold"
    if args.exit_share is not None:
        return quantile_policy(model, pages, args.exit_share), "--exit-share (speed test only)"
    if model.config.policy and not args.random_base:
        return policy_from_dict(model.config.policy), "chosen on validation (model config)"
    return quantile_policy(model, pages), "quantile thresholds (speed test only)"
