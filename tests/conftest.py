"""Shared fixtures: synthetic pages and a tiny *trained* early-exit model.

The model is never random: `tiny_model_dir` builds an EarlyExitModel (hidden 32, 2 layers, an
exit after layer 1 plus the final classifier) and trains it for a few dozen steps on features
made from the synthetic generator's ground-truth words and boxes (no OCR), in a few seconds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY_POLICY_THRESHOLD = 0.3  # max-prob threshold written into the tiny model's config


@pytest.fixture(scope="session")
def synth_pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic corpus (one file per class, seed 0: 16 files, 18 pages incl. a multi-page
    TIFF and a PDF): `images/`, `labels.csv`, `ground_truth.jsonl`."""
    from docexit.corpus.synth import write_corpus

    out = tmp_path_factory.mktemp("synth_pages")
    write_corpus(out, per_class=1, seed=0, unit="files")
    return out


def tiny_config(**config_kwargs):
    """An EarlyExitConfig with a tiny LayoutLMv3 backbone (hidden 32, 2 layers, 64 text tokens)."""
    from docexit.models.backbone import backbone_config
    from docexit.models.config import EarlyExitConfig

    backbone = backbone_config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=66,
        has_relative_attention_bias=False,
        has_spatial_attention_bias=False,
    )
    return EarlyExitConfig(backbone=backbone.to_dict(), max_text_tokens=64, **config_kwargs)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint folder with a tiny trained EarlyExitModel and a max_prob policy."""
    import torch

    from docexit.corpus.synth import LABELS, write_corpus
    from docexit.models.batch import collate
    from docexit.models.checkpoint import save_checkpoint
    from docexit.models.model import EarlyExitModel
    from docexit.models.tokenizer import minilm_tokenizer_dir
    from docexit.transforms.decode import decode_pages
    from docexit.transforms.featurize import Featurizer
    from docexit.transforms.records import PageFeatures

    corpus = tmp_path_factory.mktemp("tiny_train_corpus")
    # 18 pages, other pages than `synth_pages`
    write_corpus(corpus, per_class=1, seed=1, unit="files")
    featurizer = Featurizer(minilm_tokenizer_dir(), max_length=64)
    features: list[PageFeatures] = []
    labels: list[int] = []
    images: dict[str, list] = {}
    for line in (corpus / "ground_truth.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["file"] not in images:
            data = (corpus / row["file"]).read_bytes()
            images[row["file"]] = [p.image for p in decode_pages(data, row["file"], dpi=100)]
        image = images[row["file"]][row["page"]]
        features.append(featurizer(row["words"], [tuple(b) for b in row["boxes"]], image))
        labels.append(LABELS.index(row["label"]))

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # deterministic reductions: the same tiny model on every run
    torch.manual_seed(0)
    config = tiny_config(
        exits=[{"layer": 1, "source": "cls", "head": "ramp"}],
        label_names=list(LABELS),
        policy={"name": "max_prob", "threshold": TINY_POLICY_THRESHOLD, "num_exits": 2},
        dropout=0.0,
    )
    model = EarlyExitModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    targets = torch.tensor(labels)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(40):  # a few dozen steps on random minibatches of 8 pages
        index = torch.randperm(len(features), generator=generator)[:8]
        batch = collate([features[i] for i in index.tolist()])
        logits = model(batch).logits  # (E, B, C)
        loss = sum(
            torch.nn.functional.cross_entropy(exit_logits, targets[index]) for exit_logits in logits
        )
        optimizer.zero_grad()
        loss.backward()
        # Unclipped, the first steps can diverge to NaN weights.
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    model.eval()
    torch.set_num_threads(threads)
    assert all(torch.isfinite(p).all() for p in model.parameters()), "tiny model training diverged"
    out = tmp_path_factory.mktemp("tiny_model")
    save_checkpoint(model, out)
    return out


def write_word_split(
    corpus_dir: Path,
    split: str,
    pages: list[tuple[int, list[str]]],
    names: bool = False,
    image_png: bytes = b"",
) -> None:
    """A corpus split of text-only pages, `(label_id, words)` each (no boxes; every page the
    image `image_png`, none by default), labelled `class<id>`, or with `names` by the RVL-CDIP
    class name of the id."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from docexit.corpus.sources import LABELS
    from docexit.corpus.store import CORPUS_SCHEMA

    rows = [
        {"source": f"{split}{i}.png", "page": 0, "label_id": label}
        | {"label": LABELS[label] if names else f"class{label}"}
        | {"split": split, "content_hash": f"{split}{i}", "width": 1, "height": 1}
        | {
            "words": words,
            "boxes": [[0, 0, 1, 1]] * len(words),
            "ocr_ms": 0.0,
            "image_png": image_png,
        }
        for i, (label, words) in enumerate(pages)
    ]
    corpus_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.Table.from_pylist(rows, schema=CORPUS_SCHEMA), corpus_dir / f"{split}.parquet"
    )


def write_archive_text(path: Path, records: list[dict]) -> Path:
    import gzip
    import json

    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(r) + "\n" for r in records)
    return path
