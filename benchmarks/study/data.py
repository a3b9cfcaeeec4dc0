"""Data for `docexit study`: a small corpus from the synthetic generator's own words and boxes
(no OCR, for `--quick`), in the layout `docexit corpus` writes, so both paths read the same way."""

from __future__ import annotations

import json
import multiprocessing
import random
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from docexit.corpus.store import CORPUS_SCHEMA, SPLITS
from docexit.transforms.records import LABELS

MARKER = "generated.json"


def _rows(task: tuple[int, str, str, int, int]) -> list[dict]:
    """Pages `start..stop` of one class and split, as corpus rows (a worker function)."""
    from docexit.corpus.store import encode_page_image
    from docexit.corpus.synth import generate_page

    seed, split, label, start, stop = task
    rows = []
    for index in range(start, stop):
        page = generate_page(label, random.Random(f"study-{seed}-{split}-{label}-{index}"))
        rows.append(
            {
                "source": f"generated/{split}/{label}_{index:04d}.png",
                "page": 0,
                "label": label,
                "label_id": LABELS.index(label),
                "split": split,
                "content_hash": f"study-{seed}-{split}-{label}-{index}",
                "width": page.image.width,
                "height": page.image.height,
                "words": page.words,
                "boxes": [list(box) for box in page.boxes],
                "ocr_ms": 0.0,
                "image_png": encode_page_image(page.image),
            }
        )
    return rows


def generated_corpus(
    out_dir: Path,
    per_class: dict[str, int],
    seed: int = 0,
    workers: int = 2,
    classes: Sequence[str] = LABELS,
) -> Path:
    """`{train,validation,test}.parquet` under `out_dir` with `per_class[split]` generated pages
    of each class in `classes` (label ids stay RVL-CDIP's). Reused when a previous call wrote
    the same sizes, classes and seed."""
    out_dir = Path(out_dir)
    spec = {
        "per_class": {s: int(per_class[s]) for s in SPLITS},
        "seed": seed,
        "classes": list(classes),
    }
    marker = out_dir / MARKER
    written = all((out_dir / f"{s}.parquet").is_file() for s in SPLITS)
    if written and marker.is_file() and json.loads(marker.read_text()) == spec:
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = [(seed, s, label, 0, spec["per_class"][s]) for s in SPLITS for label in classes]
    if workers > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            parts = list(pool.map(_rows, tasks))
    else:
        parts = [_rows(task) for task in tasks]
    for split in SPLITS:
        rows = [
            row for task, part in zip(tasks, parts, strict=True) if task[1] == split for row in part
        ]
        pq.write_table(
            pa.Table.from_pylist(rows, schema=CORPUS_SCHEMA), out_dir / f"{split}.parquet"
        )
    marker.write_text(json.dumps(spec))
    return out_dir
