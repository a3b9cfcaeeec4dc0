"""Labelled inputs for the corpus builder: which file has which label.

Three layouts are understood:
- a folder with `labels.csv` (`file,label` columns, paths relative to the folder; extra columns
  are ignored), as written by `docexit synth` and used by `../shared/data/rvl-cdip-sample`;
- a folder with one sub-folder per class;
- RVL-CDIP's own label files (`relative/path.tif <label id>` per line) via `labels_file`.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from docexit.transforms.records import LABELS

RVL_CDIP_LABEL_FILE_ORDER: tuple[str, ...] = (
    "letter",
    "form",
    "email",
    "handwritten",
    "advertisement",
    "scientific_report",
    "scientific_publication",
    "specification",
    "file_folder",
    "news_article",
    "budget",
    "invoice",
    "presentation",
    "questionnaire",
    "resume",
    "memo",
)
"""RVL-CDIP's label ids 0-15, in the order of its label files."""


IMAGE_SUFFIXES = {".tif", ".tiff", ".png", ".jpg", ".jpeg", ".pdf", ".bmp", ".gif", ".webp"}


@dataclass(frozen=True)
class LabelledFile:
    path: Path
    label: str


class SourceError(ValueError):
    """A labelled input folder that cannot be read."""


def read_labelled_folder(folder: Path, labels_file: Path | None = None) -> list[LabelledFile]:
    """Every labelled file under `folder`, sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError(f"not a folder: {folder}")
    if labels_file is not None:
        files = _from_rvl_cdip_label_file(folder, Path(labels_file))
    elif (folder / "labels.csv").is_file():
        files = _from_labels_csv(folder, folder / "labels.csv")
    else:
        files = _from_class_folders(folder)
    if not files:
        raise SourceError(f"no labelled images found in {folder}")
    unknown = sorted({f.label for f in files} - set(LABELS))
    if unknown:
        raise SourceError(f"unknown labels in {folder}: {unknown}; expected one of {list(LABELS)}")
    return sorted(files, key=lambda f: str(f.path))


def read_labelled_folders(
    folders: Sequence[Path], labels_file: Path | None = None
) -> list[LabelledFile]:
    """Labelled files of several folders together."""
    return [f for folder in folders for f in read_labelled_folder(folder, labels_file)]


def _from_labels_csv(folder: Path, csv_path: Path) -> list[LabelledFile]:
    with csv_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"file", "label"} <= set(reader.fieldnames):
            raise SourceError(f"{csv_path} needs `file` and `label` columns")
        return [LabelledFile(folder / row["file"], row["label"].strip()) for row in reader]


def _from_class_folders(folder: Path) -> list[LabelledFile]:
    return [
        LabelledFile(path, class_dir.name)
        for class_dir in sorted(p for p in folder.iterdir() if p.is_dir())
        for path in sorted(class_dir.rglob("*"))
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]


def _from_rvl_cdip_label_file(folder: Path, labels_file: Path) -> list[LabelledFile]:
    files = []
    for line_no, line in enumerate(labels_file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.rsplit(maxsplit=1)
        if (
            len(parts) != 2
            or not parts[1].isdigit()
            or int(parts[1]) >= len(RVL_CDIP_LABEL_FILE_ORDER)
        ):
            raise SourceError(f"{labels_file}:{line_no}: expected `path label_id`, got {line!r}")
        files.append(LabelledFile(folder / parts[0], RVL_CDIP_LABEL_FILE_ORDER[int(parts[1])]))
    return files
