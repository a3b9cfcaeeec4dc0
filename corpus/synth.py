"""Synthetic scanned pages for the 16 RVL-CDIP classes, with word-level ground truth.

`generate_page(label, rng)` draws one page; `write_corpus(out_dir, per_class, seed)` writes a
labelled folder (`labels.csv`, `ground_truth.jsonl`, `images/`) with `per_class` pages per class
(or files, with `unit="files"`; multi-page TIFFs and PDFs hold 2-3 pages, and the last file of a
class is cut short to hit the page count). Every file gets its own `random.Random` seeded from
(seed, label, index), so the same seed gives byte-identical files whatever the number of
workers, and a larger `per_class` only adds files (and pages to a class's last file).

With labelled archive text (`archive_text`), pages of the classes it covers take their running
text from a real document of their class (real words and real OCR noise in a generated layout);
the other classes keep the generator's own text.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from docexit.corpus.layouts import draw_page
from docexit.corpus.synth_canvas import PixelBox, rotate_point
from docexit.corpus.synth_text import ArchiveWords
from docexit.transforms.records import LABELS

LONG_SIDE = 1000  # pixels on the longest side, as RVL-CDIP
DEGRADED_SHARE = 0.18  # pages that get one or two degradations
# File formats cycle over the interleaved file number (index * 16 + class id): of every 20 files,
# one multi-page TIFF, one PDF, seven single-page TIFFs and eleven PNGs.
FORMAT_CYCLE: tuple[str, ...] = (
    "png",
    "tif",
    "png",
    "png",
    "tif",
    "png",
    "tif",
    "multitif",
    "png",
    "tif",
    "png",
    "png",
    "tif",
    "pdf",
    "png",
    "tif",
    "png",
    "png",
    "tif",
    "png",
)
FIXED_PDF_DATE = "2000-01-01T00:00:00"
MIN_ARCHIVE_WORDS = 20  # shorter archive documents cannot fill a page's running text


@dataclass(frozen=True)
class SynthPage:
    """One generated page: greyscale image, its words, their 0-1000 boxes and the class."""

    image: Image.Image
    words: list[str]
    boxes: list[tuple[int, int, int, int]]
    label: str


def page_size(label: str, rng: random.Random) -> tuple[int, int]:
    """(width, height) with 1000 px on the longest side; a few slides are landscape."""
    short = rng.randint(740, 790)
    if label == "presentation" and rng.random() < 0.3:
        return LONG_SIDE, short
    return short, LONG_SIDE


def generate_page(
    label: str,
    rng: random.Random,
    degraded: bool | None = None,
    archive_document: str | None = None,
) -> SynthPage:
    """Draw one scanned-looking page of class `label` using only `rng` for randomness.

    `degraded`: None degrades a random `DEGRADED_SHARE` of pages, True always, False never.
    `archive_document`: a real text whose words fill the page's running text."""
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}; expected one of {', '.join(LABELS)}")
    width, height = page_size(label, rng)
    archive_words = ArchiveWords(archive_document, rng) if archive_document else None
    canvas = draw_page(label, rng, width, height, archive_words)
    image, boxes = canvas.image, list(canvas.boxes)
    words = list(canvas.words)
    np_rng = np.random.default_rng(rng.getrandbits(64))
    roll = rng.random()
    if degraded or (degraded is None and roll < DEGRADED_SHARE):
        image, words, boxes = degrade(image, words, boxes, rng, np_rng)
    image = scan_effects(image, rng, np_rng)
    return SynthPage(image, words, normalise_boxes(boxes, image.size), label)


def scan_effects(
    image: Image.Image, rng: random.Random, np_rng: np.random.Generator
) -> Image.Image:
    """Scanner look: bilevel (fax) or softened edges, paper tone, dust specks, some grain."""
    if rng.random() < 0.25:
        threshold = rng.randint(120, 170)
        image = image.point(lambda v: 0 if v < threshold else 255)  # bilevel scan
    else:
        if rng.random() < 0.7:
            image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.7)))
        paper = rng.randint(228, 255)
        image = image.point(lambda v: v * paper // 255)
    pixels = np.array(image)
    if rng.random() < 0.08:  # film grain on a few pages (expensive to compress)
        grain = np_rng.integers(-4, 5, pixels.shape, dtype=np.int16)
        pixels = np.clip(pixels + grain, 0, 255).astype(np.uint8)
    specks = int(rng.uniform(0, 1) ** 2 * 3000)
    ys = np_rng.integers(0, pixels.shape[0], specks)
    xs = np_rng.integers(0, pixels.shape[1], specks)
    pixels[ys, xs] = np_rng.integers(0, 120, specks, dtype=np.uint8)
    return Image.fromarray(pixels, "L")


def degrade(
    image: Image.Image,
    words: list[str],
    boxes: list[PixelBox],
    rng: random.Random,
    np_rng: np.random.Generator,
) -> tuple[Image.Image, list[str], list[PixelBox]]:
    """One or two of: skew, salt-and-pepper, blur, low contrast, nearly empty."""
    kinds = rng.sample(["skew", "noise", "blur", "contrast", "empty"], rng.choice((1, 1, 2)))
    if "empty" in kinds:
        keep = int(image.height * rng.uniform(0.08, 0.22))
        image = image.copy()
        image.paste(255, (0, keep, image.width, image.height))
        kept = [(w, b) for w, b in zip(words, boxes, strict=True) if b[3] <= keep]
        words, boxes = [w for w, _ in kept], [b for _, b in kept]
    if "skew" in kinds:
        angle = rng.choice((-1, 1)) * rng.uniform(1.0, 5.0)
        image = image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=255)
        boxes = [rotate_box(b, image.width / 2, image.height / 2, angle) for b in boxes]
    if "blur" in kinds:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 1.8)))
    if "contrast" in kinds:
        low, high = rng.randint(60, 130), rng.randint(170, 215)
        image = image.point(lambda v: low + (high - low) * v // 255)
    if "noise" in kinds:
        pixels = np.array(image)
        roll = np_rng.random(pixels.shape)
        amount = rng.uniform(0.005, 0.03)
        pixels[roll < amount / 2] = 0
        pixels[roll > 1 - amount / 2] = 255
        image = Image.fromarray(pixels, "L")
    return image, words, boxes


def rotate_box(box: PixelBox, cx: float, cy: float, angle: float) -> PixelBox:
    """Axis-aligned box around `box` after rotating the page by `angle` degrees."""
    x0, y0, x1, y1 = box
    corners = [
        rotate_point(x, y, cx, cy, angle) for x, y in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))
    ]
    xs, ys = [p[0] for p in corners], [p[1] for p in corners]
    return int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys))


def normalise_boxes(
    boxes: Sequence[PixelBox], size: tuple[int, int]
) -> list[tuple[int, int, int, int]]:
    """Pixel boxes -> 0-1000 boxes, clipped to the page, x0 <= x1 and y0 <= y1."""
    width, height = size

    def scale(v: float, extent: int) -> int:
        return min(1000, max(0, round(v * 1000 / extent)))

    out = []
    for x0, y0, x1, y1 in boxes:
        a, b = sorted((scale(x0, width), scale(x1, width)))
        c, d = sorted((scale(y0, height), scale(y1, height)))
        out.append((a, c, b, d))
    return out


# ---- files ---------------------------------------------------------------------------------
def file_format(label: str, index: int) -> str:
    """The format of file `index` of class `label`: png, tif, multitif or pdf."""
    return FORMAT_CYCLE[(index * len(LABELS) + LABELS.index(label)) % len(FORMAT_CYCLE)]


def file_rng(seed: int, label: str, index: int) -> random.Random:
    """The private RNG of one file (string seeds hash with SHA-512: stable across runs)."""
    return random.Random(f"docexit-synth:{seed}:{label}:{index}")


def encode(pages: Sequence[Image.Image], fmt: str) -> bytes:
    """Encode pages deterministically (no timestamps or software tags)."""
    buffer = io.BytesIO()
    if fmt == "png":
        pages[0].save(buffer, "PNG", compress_level=3)
    elif fmt in ("tif", "multitif"):
        pages[0].save(
            buffer, "TIFF", compression="tiff_lzw", save_all=True, append_images=list(pages[1:])
        )
        return zero_tiff_padding(buffer.getvalue())
    elif fmt == "pdf":
        info = {"title": "", "author": "", "creator": "docexit synth", "producer": "docexit synth"}
        pages[0].save(
            buffer,
            "PDF",
            resolution=100.0,
            save_all=True,
            append_images=list(pages[1:]),
            creationDate=FIXED_PDF_DATE,
            modDate=FIXED_PDF_DATE,
            **info,
        )
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return buffer.getvalue()


def zero_tiff_padding(data: bytes) -> bytes:
    """Zero the pad byte libtiff leaves uninitialised after each page's odd-length image data."""
    out = bytearray(data)
    with Image.open(io.BytesIO(data)) as tiff:
        for frame in range(tiff.n_frames):
            tiff.seek(frame)
            offsets, counts = tiff.tag_v2[273], tiff.tag_v2[279]
            end = max(o + c for o, c in zip(offsets, counts, strict=True))
            if end % 2 and end < len(out):
                out[end] = 0
    return bytes(out)


def _draw_page_count(rng: random.Random, fmt: str) -> int:
    """Pages in a file of format `fmt` (the first draw of the file's RNG for multi-page formats)."""
    return 1 if fmt in ("png", "tif") else rng.choice((1, 2, 2, 3) if fmt == "pdf" else (2, 2, 3))


def file_page_count(seed: int, label: str, index: int) -> int:
    """How many pages `make_file(seed, label, index)` draws, without drawing them."""
    return _draw_page_count(file_rng(seed, label, index), file_format(label, index))


@lru_cache(maxsize=2)
def archive_documents(path: Path) -> dict[str, tuple[str, ...]]:
    """Class name -> the archive documents of `path` long enough to fill a page."""
    from docexit.corpus.archive_text import load_archive_text

    archive = load_archive_text(path)
    documents: dict[str, list[str]] = {}
    for text, label in zip(archive.texts, archive.labels.tolist(), strict=True):
        if len(text.split()) >= MIN_ARCHIVE_WORDS:
            documents.setdefault(LABELS[label], []).append(text)
    if not documents:
        raise ValueError(f"no document of {MIN_ARCHIVE_WORDS} words or more")
    return {label: tuple(texts) for label, texts in documents.items()}


def make_file(
    seed: int,
    label: str,
    index: int,
    max_pages: int | None = None,
    archive_text: Path | None = None,
) -> tuple[str, bytes, list[dict]]:
    """Generate file `index` of class `label`: (relative path, bytes, ground-truth rows).

    `max_pages` cuts a multi-page file short; its first pages stay the same. With
    `archive_text`, each page of a class it covers is filled from one of its documents."""
    rng = file_rng(seed, label, index)
    fmt = file_format(label, index)
    count = _draw_page_count(rng, fmt)
    if max_pages is not None:
        count = max(1, min(count, max_pages))
    documents = archive_documents(archive_text).get(label, ()) if archive_text else ()
    pages = [
        generate_page(label, rng, archive_document=rng.choice(documents) if documents else None)
        for _ in range(count)
    ]
    extension = {"png": "png", "tif": "tif", "multitif": "tif", "pdf": "pdf"}[fmt]
    name = f"images/{label}_{index:04d}.{extension}"
    rows = [
        {
            "file": name,
            "page": p,
            "label": label,
            "words": page.words,
            "boxes": [list(b) for b in page.boxes],
        }
        for p, page in enumerate(pages)
    ]
    return name, encode([page.image for page in pages], fmt), rows


Task = tuple[Path, int, str, int, int | None, Path | None]
# out_dir, seed, label, index, max_pages, archive_text


def _make_and_write(task: Task) -> tuple[str, str, list[dict]]:
    """Worker: generate one file and write it under `out_dir`."""
    out_dir, seed, label, index, max_pages, archive_text = task
    name, data, rows = make_file(seed, label, index, max_pages, archive_text)
    (out_dir / name).write_bytes(data)
    return name, label, rows


def file_plan(per_class: int, seed: int, unit: str = "pages") -> list[tuple[str, int, int | None]]:
    """(label, file index, page cap or None) for every file to write, index-major.

    unit "files": `per_class` whole files per class; "pages": files until the class holds
    `per_class` pages, the last one capped."""
    if unit == "files":
        return [(label, index, None) for index in range(per_class) for label in LABELS]
    if unit != "pages":
        raise ValueError(f"unit must be 'pages' or 'files', got {unit!r}")
    plan = []
    for label in LABELS:
        index, remaining = 0, per_class
        while remaining > 0:
            pages = file_page_count(seed, label, index)
            plan.append((label, index, remaining if pages > remaining else None))
            remaining -= min(pages, remaining)
            index += 1
    return sorted(plan, key=lambda item: (item[1], LABELS.index(item[0])))


def write_corpus(
    out_dir: str | Path,
    per_class: int,
    seed: int,
    workers: int = 1,
    progress: bool = False,
    unit: str = "pages",
    archive_text: Path | None = None,
) -> Path:
    """Write `per_class` pages (or files) per class under `out_dir`; returns `labels.csv`.

    Also writes `ground_truth.jsonl` (one row per page) and `images/`. `archive_text`: labelled
    archive text (JSON lines) whose documents fill the covered classes' running text."""
    if per_class < 0:
        raise ValueError("per_class must be >= 0")
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    if archive_text is not None:
        archive_documents(archive_text)  # a bad file fails here, before any worker starts
    tasks = [
        (out_dir, seed, label, index, cap, archive_text)
        for label, index, cap in file_plan(per_class, seed, unit)
    ]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), unit="file", file=sys.stderr, desc="synth")
    results = []
    if workers > 1:
        with get_context("spawn").Pool(workers) as pool:
            for result in pool.imap(_make_and_write, tasks, chunksize=4):
                results.append(result)
                if bar:
                    bar.update()
    else:
        for task in tasks:
            results.append(_make_and_write(task))
            if bar:
                bar.update()
    if bar:
        bar.close()
    results.sort(key=lambda r: r[0])
    labels_path = out_dir / "labels.csv"
    with labels_path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["file", "label"])
        writer.writerows((name, label) for name, label, _ in results)
    with (out_dir / "ground_truth.jsonl").open("w") as f:
        for _, _, rows in results:
            for row in rows:
                f.write(json.dumps(row, separators=(",", ":")) + "\n")
    return labels_path


def count_pages(labels_path: Path) -> int:
    """Pages listed in the `ground_truth.jsonl` next to `labels_path`."""
    with (labels_path.parent / "ground_truth.jsonl").open() as f:
        return sum(1 for _ in f)


def timed_write(
    out_dir: Path, per_class: int, seed: int, workers: int, archive_text: Path | None = None
) -> tuple[Path, int, float]:
    """`write_corpus` with a progress bar; returns (labels.csv, pages, seconds)."""
    start = time.perf_counter()
    labels = write_corpus(
        out_dir, per_class, seed, workers, progress=True, archive_text=archive_text
    )
    return labels, count_pages(labels), time.perf_counter() - start
