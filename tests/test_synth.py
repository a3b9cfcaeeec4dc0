"""Tests of the synthetic corpus generator (`docexit synth`)."""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import random
import shutil
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from docexit.corpus.layouts import TEMPLATES
from docexit.corpus.synth import (
    LABELS,
    file_format,
    file_page_count,
    file_plan,
    generate_page,
    make_file,
    write_corpus,
)
from docexit.pipeline.cli import synth as synth_cli


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def read_labels(folder: Path) -> list[dict[str, str]]:
    with (folder / "labels.csv").open() as f:
        return list(csv.DictReader(f))


def read_truth(folder: Path) -> list[dict]:
    with (folder / "ground_truth.jsonl").open() as f:
        return [json.loads(line) for line in f]


def page_sizes(path: Path) -> list[tuple[int, int]]:
    """Pixel size of every page of an image file (PDF pages at the generator's 100 dpi)."""
    if path.suffix == ".pdf":
        import pypdfium2

        pdf = pypdfium2.PdfDocument(str(path))
        try:
            return [tuple(round(v * 100 / 72) for v in pdf[i].get_size()) for i in range(len(pdf))]
        finally:
            pdf.close()
    sizes = []
    with Image.open(path) as image:
        for frame in range(getattr(image, "n_frames", 1)):
            image.seek(frame)
            assert image.mode == "L"
            sizes.append(image.size)
    return sizes


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-per-class corpus with seed 7, written once for the module."""
    out = tmp_path_factory.mktemp("synth") / "a"
    write_corpus(out, per_class=2, seed=7)
    return out


def test_labels_in_rvl_cdip_order_and_templates_per_class() -> None:
    assert LABELS[0] == "advertisement" and LABELS[-1] == "specification" and len(LABELS) == 16
    assert list(LABELS) == sorted(LABELS)
    assert set(TEMPLATES) == set(LABELS)
    assert all(len(templates) >= 3 for templates in TEMPLATES.values())


def test_writes_32_pages_in_16_classes(corpus: Path) -> None:
    rows = read_labels(corpus)
    assert (corpus / "labels.csv").read_text().splitlines()[0] == "file,label"
    assert all((corpus / r["file"]).is_file() and r["file"].startswith("images/") for r in rows)
    assert len(list((corpus / "images").iterdir())) == len(rows)
    truth = read_truth(corpus)
    assert len(truth) == 32
    assert Counter(t["label"] for t in truth) == dict.fromkeys(LABELS, 2)
    assert sum(len(page_sizes(corpus / r["file"])) for r in rows) == 32  # pages in the files


def test_page_count_caps_the_last_file_and_file_unit_keeps_whole_files(tmp_path: Path) -> None:
    pages_plan = file_plan(5, seed=7)
    files_plan = file_plan(5, seed=7, unit="files")
    assert len(files_plan) == 80 and all(cap is None for _, _, cap in files_plan)
    for label in LABELS:
        counts = [
            cap or file_page_count(7, label, index)
            for lab, index, cap in pages_plan
            if lab == label
        ]
        assert sum(counts) == 5
    multi = next((lab, i) for lab, i, _ in files_plan if file_page_count(7, lab, i) > 1)
    whole = make_file(7, *multi)
    cut = make_file(7, *multi, max_pages=1)
    assert len(cut[2]) == 1 and len(whole[2]) > 1
    assert cut[2][0]["words"] == whole[2][0]["words"]  # the same first page, cut short
    with pytest.raises(ValueError, match="unit"):
        file_plan(1, seed=7, unit="documents")


def test_same_seed_byte_identical_different_seed_differs(corpus: Path, tmp_path: Path) -> None:
    again, other = tmp_path / "again", tmp_path / "other"
    write_corpus(again, per_class=2, seed=7)
    assert digests(again) == digests(corpus)
    write_corpus(other, per_class=1, seed=8)
    first, second = digests(corpus), digests(other)
    images = [name for name in second if name.startswith("images/")]
    assert len(images) == 16 and all(first[name] != second[name] for name in images)


def test_images_greyscale_1000px_and_boxes_in_range(corpus: Path) -> None:
    truth = read_truth(corpus)
    for row in read_labels(corpus):
        pages = [t for t in truth if t["file"] == row["file"]]
        assert [p["page"] for p in pages] == list(range(len(pages)))
        assert all(p["label"] == row["label"] for p in pages)
        sizes = page_sizes(corpus / row["file"])
        assert len(sizes) == len(pages)
        for size in sizes:
            assert max(size) == 1000 and 700 <= min(size) <= 800, (row["file"], size)
    words = 0
    for page in truth:
        assert len(page["words"]) == len(page["boxes"])
        for x0, y0, x1, y1 in page["boxes"]:
            assert 0 <= x0 <= x1 <= 1000 and 0 <= y0 <= y1 <= 1000
        words += len(page["words"])
    assert words > 32 * 40


def test_generate_page_api() -> None:
    page = generate_page("memo", random.Random(3))
    assert page.label == "memo" and page.image.mode == "L" and max(page.image.size) == 1000
    assert len(page.words) == len(page.boxes) > 10
    again = generate_page("memo", random.Random(3))
    assert again.words == page.words and again.image.tobytes() == page.image.tobytes()
    assert generate_page("memo", random.Random(3), degraded=False).words
    assert generate_page("memo", random.Random(3), degraded=True).image.size == page.image.size
    with pytest.raises(ValueError, match="unknown label"):
        generate_page("receipt", random.Random(0))


def test_multipage_tiff_and_pdf(tmp_path: Path) -> None:
    formats = {(label, i): file_format(label, i) for label in LABELS for i in range(20)}
    assert Counter(formats.values())["multitif"] == Counter(formats.values())["pdf"] == 16  # 5%
    multi = [key for key, fmt in formats.items() if fmt == "multitif"][:2]
    pdfs = [key for key, fmt in formats.items() if fmt == "pdf"][:3]
    for label, index in multi + pdfs:
        name, data, rows = make_file(5, label, index)
        path = tmp_path / Path(name).name
        path.write_bytes(data)
        assert [r["page"] for r in rows] == list(range(len(rows)))
        assert len(page_sizes(path)) == len(rows)
        if (label, index) in multi:
            assert name.endswith(".tif") and len(rows) in (2, 3)
        else:
            assert name.endswith(".pdf") and data.startswith(b"%PDF") and 1 <= len(rows) <= 3
        assert make_file(5, label, index)[1] == data


def test_cli_prints_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    synth_cli.add_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path), "--per-class", "1", "--seed", "3"])
    assert synth_cli.main(args) == 0
    out = capsys.readouterr().out
    assert "16 files" in out and "pages/s" in out
    assert len(read_labels(tmp_path)) == 16


def test_cli_refuses_archive_text_that_cannot_fill_a_page(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    synth_cli.add_arguments(parser)
    short = tmp_path / "short.jsonl"
    note = "a short note of eleven words, too few to fill a page"
    short.write_text(json.dumps({"text": note, "rvl_cdip_label": "memo"}) + "\n")
    for archive, reason in ((tmp_path / "absent.jsonl", "No such file"), (short, "no document")):
        args = parser.parse_args(["--out", str(tmp_path / "out"), "--archive-text", str(archive)])
        with pytest.raises(SystemExit, match=reason):
            synth_cli.main(args)
    assert not (tmp_path / "out").exists()  # refused before anything is written


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed")
def test_tesseract_reads_clean_pages() -> None:
    pytesseract = pytest.importorskip("pytesseract")
    for label, seed in (("letter", 11), ("memo", 12)):
        page = generate_page(label, random.Random(seed), degraded=False)
        data = pytesseract.image_to_data(
            page.image, config="--psm 3", output_type=pytesseract.Output.DICT
        )
        read = Counter(w.strip() for w in data["text"] if w.strip())
        expected = Counter(page.words)
        recall = sum((expected & read).values()) / sum(expected.values())
        assert recall > 0.6, (label, recall)


def test_class_words_are_a_minority_and_leak_to_siblings() -> None:
    from docexit.corpus import synth_text as txt

    rng = random.Random(0)
    drawn = txt.words(rng, 4000, "memo")
    own = sum(w in txt.CLASS_WORDS["memo"] for w in drawn) / len(drawn)
    siblings = {w for s in set(txt.SIBLINGS["memo"]) for w in txt.CLASS_WORDS[s]}
    leaked = sum(w in siblings and w not in txt.CLASS_WORDS["memo"] for w in drawn) / len(drawn)
    assert 0.03 < own < 0.15 and leaked > 0.05, (own, leaked)
    assert all(set(s) <= set(LABELS) and label not in s for label, s in txt.SIBLINGS.items())


def test_shared_templates_draw_words_and_headings_vary() -> None:
    from docexit.corpus.layouts.correspondence import MEMO_HEADINGS, continuation, transmittal
    from docexit.corpus.synth_canvas import Canvas

    assert "" in MEMO_HEADINGS and "MEMORANDUM" in MEMO_HEADINGS
    for template, labels in (
        (continuation, ("letter", "memo", "scientific_report")),
        (transmittal, ("invoice", "budget")),
    ):
        assert all(template in TEMPLATES[label] for label in labels)
        for label in labels:
            canvas = Canvas(label, random.Random(1), 770, 1000)
            template(canvas)
            assert len(canvas.words) == len(canvas.boxes) > 15, (template.__name__, label)


def test_a_grid_table_with_no_room_left_draws_nothing():
    """Regression: a framed table started too near the bottom for one row crashed the generator
    (`y1 must be greater than or equal to y0`) in `docexit corpus`'s default 300-per-class run."""
    from docexit.corpus.layouts.blocks import table
    from docexit.corpus.synth_canvas import Canvas

    canvas = Canvas("scientific_report", random.Random(0), 770, 1000)
    y = table(canvas, 40, 990, [200, 100], [["a", "b"], ["c", "1"]], grid=True, max_y=995)
    assert y == 1000 and canvas.words == []


def test_archive_text_fills_the_running_text_of_the_classes_it_covers(
    corpus: Path, tmp_path: Path
) -> None:
    """Letters and news articles take their running text from the archive's documents, in the
    documents' word order; a class whose only document is too short, and the classes the
    archive does not cover, are drawn exactly as without it."""
    records = [
        {"text": " ".join(f"qz{label[:3]}{d}w{i}" for i in range(60)), "rvl_cdip_label": label}
        for label in ("letter", "news_article")
        for d in range(2)
    ] + [{"text": "too short for a page of running text", "rvl_cdip_label": "memo"}]
    archive = tmp_path / "archive.jsonl"
    archive.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "with-archive"
    write_corpus(out, per_class=2, seed=7, archive_text=archive)
    plain, ours = digests(corpus), digests(out)
    for row in read_truth(out):
        real = [w for w in row["words"] if w.startswith("qz")]
        if row["label"] not in ("letter", "news_article"):
            assert not real and plain[row["file"]] == ours[row["file"]]
            continue
        assert len(real) >= 20 and all(w.startswith(f"qz{row['label'][:3]}") for w in real)
        positions = [int(word.split("w")[-1]) for word in real]
        steps = [b - a for a, b in itertools.pairwise(positions)]
        assert sum(s in (1, -59) for s in steps) >= 0.9 * len(steps)  # the document's order
