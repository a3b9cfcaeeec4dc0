"""Build train/validation/test corpora: decode, OCR and store every labelled page as Parquet.

The same decode and OCR functions as the pipeline run here, in parallel over processes. Results
are cached per file content hash and OCR settings, so a rerun OCRs nothing twice. Pages that
cannot be decoded are listed in `bad_pages.csv`; pages with no OCR words are kept (the image still
carries them) and counted.
"""

from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from docexit.corpus.sources import LABELS, LabelledFile
from docexit.corpus.store import CORPUS_SCHEMA, SPLITS, encode_page_image
from docexit.transforms.decode import DecodeError, decode_pages
from docexit.transforms.ocr import OcrConfig, get_engine


@dataclass(frozen=True)
class BuildSettings:
    ocr: OcrConfig = field(default_factory=OcrConfig)
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)  # train, validation, test
    workers: int = max(1, os.cpu_count() or 1)
    pdf_dpi: int = 150

    def cache_key(self) -> str:
        """Settings that change OCR output; part of every cache file name."""
        ocr = asdict(self.ocr)
        if ocr["min_dpi"] is None:  # added later: as is, keep the key (and cache) it had before
            del ocr["min_dpi"]
        text = json.dumps({"ocr": ocr, "dpi": self.pdf_dpi}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class BuildReport:
    pages: Counter = field(default_factory=Counter)  # split -> pages
    bad_pages: list[dict] = field(default_factory=list)
    empty_ocr_pages: int = 0
    cached_files: int = 0
    seconds: float = 0.0
    ocr_ms: float = 0.0  # summed Tesseract time of every page, as recorded when it was OCRed

    def summary(self) -> str:
        total = sum(self.pages.values())
        parts = ", ".join(f"{split} {self.pages[split]}" for split in SPLITS)
        return (
            f"corpus: {total} pages ({parts}); {len(self.bad_pages)} bad pages, "
            f"{self.empty_ocr_pages} with no OCR words; {self.cached_files} files from cache; "
            f"{self.seconds:.0f} s; OCR {self.ocr_ms / max(total, 1):.0f} ms per page (when OCRed)"
        )


def assign_splits(
    files: Sequence[LabelledFile], hashes: Sequence[str], fractions: tuple[float, float, float]
) -> list[str]:
    """Stratified, deterministic splits: within each class, files sorted by content hash."""
    splits = [""] * len(files)
    by_label: dict[str, list[int]] = {}
    for index, item in enumerate(files):
        by_label.setdefault(item.label, []).append(index)
    for indices in by_label.values():
        ordered = sorted(indices, key=lambda i: hashes[i])
        n_train = round(fractions[0] * len(ordered))
        n_val = round(fractions[1] * len(ordered))
        for rank, index in enumerate(ordered):
            splits[index] = (
                "train" if rank < n_train else "validation" if rank < n_train + n_val else "test"
            )
    return splits


def build_corpus(
    files: Sequence[LabelledFile], out_dir: Path, settings: BuildSettings = BuildSettings()
) -> BuildReport:
    """OCR every page of `files` and write `{train,validation,test}.parquet` under `out_dir`."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    cache_dir = out_dir / "cache" / settings.cache_key()
    cache_dir.mkdir(parents=True, exist_ok=True)
    hashes = [hashlib.sha256(item.path.read_bytes()).hexdigest() for item in files]
    splits = assign_splits(files, hashes, settings.fractions)
    jobs = [
        (str(item.path), digest, str(cache_dir), settings)
        for item, digest in zip(files, hashes, strict=True)
    ]
    report = BuildReport()
    rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
    for index, (pages, errors, cached) in enumerate(_run_jobs(jobs, settings.workers, len(files))):
        item, split = files[index], splits[index]
        report.cached_files += cached
        report.bad_pages.extend({"source": str(item.path), **error} for error in errors)
        for page in pages:
            report.empty_ocr_pages += not page["words"]
            report.ocr_ms += page["ocr_ms"]
            rows[split].append(
                {
                    **page,
                    "source": str(item.path),
                    "label": item.label,
                    "label_id": LABELS.index(item.label),
                    "split": split,
                    "content_hash": hashes[index],
                }
            )
    for split in SPLITS:
        table = pa.Table.from_pylist(rows[split], schema=CORPUS_SCHEMA)
        pq.write_table(table, out_dir / f"{split}.parquet")
        report.pages[split] = table.num_rows
    _write_bad_pages(out_dir / "bad_pages.csv", report.bad_pages)
    report.seconds = time.perf_counter() - start
    return report


def _run_jobs(jobs: list[tuple], workers: int, total: int) -> Iterator[tuple[list, list, bool]]:
    """Results of `_process_file` in job order, with a progress bar."""
    progress = tqdm(total=total, desc="OCR", unit="file", smoothing=0.05)
    if workers <= 1:
        results = map(_process_file, jobs)
        for result in results:
            progress.update()
            yield result
    else:
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers) as pool:
            for result in pool.imap(_process_file, jobs, chunksize=2):
                progress.update()
                yield result
    progress.close()


def _process_file(job: tuple[str, str, str, BuildSettings]) -> tuple[list[dict], list[dict], bool]:
    """Decode and OCR one file: (page rows, errors, whether it came from the cache)."""
    path, digest, cache_dir, settings = job
    cache_file = Path(cache_dir) / f"{digest}.json"
    if cache_file.is_file():
        cached = json.loads(cache_file.read_text())
        for page in cached["pages"]:
            page["image_png"] = bytes.fromhex(page["image_png"])
        return cached["pages"], cached["errors"], True
    pages, errors = [], []
    engine = get_engine(settings.ocr)
    try:
        for page in decode_pages(Path(path).read_bytes(), path, dpi=settings.pdf_dpi):
            result = engine.recognize(page.image)
            pages.append(
                {
                    "page": page.page,
                    "width": page.image.width,
                    "height": page.image.height,
                    "words": list(result.words),
                    "boxes": [list(box) for box in result.boxes],
                    "ocr_ms": result.seconds * 1000.0,
                    "image_png": encode_page_image(page.image),
                }
            )
    except DecodeError as error:
        errors.append({"page": len(pages), "stage": "decode", "error": str(error)})
    except Exception as error:  # one bad page must not stop a corpus build
        errors.append(
            {"page": len(pages), "stage": "ocr", "error": f"{type(error).__name__}: {error}"}
        )
    serialisable = [{**page, "image_png": page["image_png"].hex()} for page in pages]
    cache_file.write_text(json.dumps({"pages": serialisable, "errors": errors}))
    return pages, errors, False


def _write_bad_pages(path: Path, bad_pages: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["source", "page", "stage", "error"])
        writer.writeheader()
        writer.writerows(bad_pages)


def cached_folder_corpus(
    folder: Path, labels_file: Path | None = None, min_dpi: int | None = None
) -> Path:
    """A labelled folder OCRed once into the cache (`min_dpi`: as `docexit run --ocr-min-dpi`)
    as a corpus whose pages are all in `test` (re-runs reuse the per-file OCR cache, kept per
    OCR settings). Returns the corpus folder."""
    from docexit.corpus.sources import read_labelled_folder
    from docexit.pipeline.defaults import cache_dir

    files = read_labelled_folder(folder, labels_file)
    key = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:12]
    corpus_dir = cache_dir() / "evaluate" / key
    settings = BuildSettings(ocr=OcrConfig(min_dpi=min_dpi), fractions=(0.0, 0.0, 1.0))
    report = build_corpus(files, corpus_dir, settings)
    print(report.summary())
    return corpus_dir


def is_corpus(path: Path) -> bool:
    """Whether `path` is a corpus folder written by `docexit corpus` (any split)."""
    return any((Path(path) / f"{split}.parquet").is_file() for split in SPLITS)


def labelled_pages_corpus(path: Path, labels_file: Path | None, min_dpi: int | None) -> Path:
    """A corpus folder as is; a labelled folder OCRed once into the cache."""
    return path if is_corpus(path) else cached_folder_corpus(path, labels_file, min_dpi)
