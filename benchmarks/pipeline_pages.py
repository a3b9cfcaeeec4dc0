"""The pages `docexit bench pipeline` runs: each decoded once (synthetic generator, classes in
turn, or `--input` files) and written as one PNG holding exactly the image Tesseract sees, with its
resolution, so that every run OCRs the same pixels at the same dpi."""

from __future__ import annotations

import glob
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from docexit.benchmarks.timing import log


@dataclass(frozen=True)
class BenchPage:
    """One page as every run sees it: a PNG of the exact image Tesseract gets, and its dpi."""

    path: str
    dpi: int
    source: str  # the file it was decoded from, and its page index
    page: int


@dataclass(frozen=True)
class PageSet:
    folder: str  # the PNGs, one per page (the pipeline's --input is folder/*)
    pages: list[BenchPage]
    origin: str  # where they came from, in words

    @property
    def pattern(self) -> str:
        return str(Path(self.folder) / "*.png")


def _synthetic_files(work: Path, pages: int, seed: int, workers: int) -> list[Path]:
    """Generated files (classes in turn: index-major), enough for `pages` pages."""
    from docexit.corpus.synth import LABELS, write_corpus

    per_class = max(1, math.ceil(pages / len(LABELS)))
    corpus = work / "synth"
    write_corpus(corpus, per_class=per_class, seed=seed, workers=workers)

    def order(path: Path) -> tuple[str, str]:
        label, _, index = path.stem.rpartition("_")
        return index, label

    return sorted((corpus / "images").iterdir(), key=order)


def _input_files(pattern: str) -> list[Path]:
    files = sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_file())
    if not files:
        raise FileNotFoundError(f"--input {pattern!r} matches no file")
    return files


def prepare_pages(
    work: str | Path,
    pages: int,
    input_pattern: str | None = None,
    seed: int = 0,
    dpi: int | None = None,
    workers: int = 1,
) -> PageSet:
    """The first `pages` pages of the synthetic corpus (or of `input_pattern`'s files, all of
    them when `pages` is 0), each decoded (`decode_pages`), prepared for Tesseract
    (`prepare_image`) and written as a lossless PNG with its dpi under `work/pages/`."""
    from docexit.transforms.decode import DEFAULT_DPI, decode_pages
    from docexit.transforms.ocr import prepare_image

    work = Path(work)
    if input_pattern:
        files, origin = _input_files(input_pattern), f"--input {input_pattern}"
    else:
        if pages < 1:
            raise ValueError("--pages must be >= 1 for synthetic pages")
        files = _synthetic_files(work, pages, seed, workers)
        origin = f"synthetic generator (seed {seed})"
    folder = work / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    out: list[BenchPage] = []
    for file in files:
        for decoded in decode_pages(file.read_bytes(), str(file), dpi=dpi or DEFAULT_DPI):
            image, page_dpi = prepare_image(decoded.image)
            path = folder / f"p{len(out):05d}_{file.stem}_{decoded.page}.png"
            image.save(path, dpi=(page_dpi, page_dpi))
            out.append(BenchPage(str(path), page_dpi, str(file), decoded.page))
            if pages and len(out) >= pages:
                return PageSet(str(folder), out, origin)
    if pages and len(out) < pages:
        log(f"note: {origin} holds {len(out)} pages, fewer than --pages {pages}")
    return PageSet(str(folder), out, origin)


def link_file(source: str | Path, target: Path) -> None:
    """Hard-link `source` as `target` (copy where linking fails)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def first_pages(page_set: PageSet, count: int, folder: Path) -> PageSet:
    """The first `count` pages of `page_set`, linked under `folder` (a run of its own)."""
    folder.mkdir(parents=True, exist_ok=True)
    pages = []
    for page in page_set.pages[:count]:
        target = folder / Path(page.path).name
        link_file(page.path, target)
        pages.append(BenchPage(str(target), page.dpi, page.source, page.page))
    return PageSet(str(folder), pages, f"the first {count} of {page_set.origin}")
