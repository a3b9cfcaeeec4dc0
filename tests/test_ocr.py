"""OCR: box normalisation, TSV parsing, recall, image preparation, both Tesseract backends."""

from __future__ import annotations

import csv
import random
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont

from docexit.transforms import ocr
from docexit.transforms.ocr import (
    OcrConfig,
    OcrEngine,
    OcrTimeoutError,
    OcrUnavailableError,
    check_ocr_available,
    get_engine,
    normalize_box,
    ocr_image,
    parse_tsv,
    prepare_image,
    tesseract_version,
    word_jaccard,
    word_recall,
)

RVL_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "rvl-cdip-sample"
VOCAB = [
    "tobacco",
    "research",
    "council",
    "memorandum",
    "invoice",
    "budget",
    "report",
    "committee",
    "smoking",
    "health",
    "program",
    "review",
    "schedule",
    "payment",
    "account",
    "marketing",
    "advertising",
    "product",
    "sample",
    "letter",
    "meeting",
    "director",
    "quarterly",
    "summary",
    "analysis",
    "tax",
    "order",
    "shipment",
    "total",
    "reference",
]


def render_page(
    rng: random.Random, lines: int = 10, size: tuple[int, int] = (1100, 1400)
) -> tuple[Image.Image, list[str], list[tuple[int, int, int, int]]]:
    """A clean white page of dark text, its words and their 0-1000 boxes (ground truth)."""
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=30)
    words, boxes = [], []
    y = 80
    for _ in range(lines):
        x = 80
        for _ in range(rng.randint(4, 8)):
            word = rng.choice(VOCAB)
            if rng.random() < 0.2:
                word = word.capitalize()
            if rng.random() < 0.15:
                word = str(rng.randint(10, 99999))
            x0, y0, x1, y1 = draw.textbbox((x, y), word, font=font)
            if x1 > size[0] - 60:
                break
            draw.text((x, y), word, fill=20, font=font)
            words.append(word)
            boxes.append(normalize_box((x0, y0, x1, y1), *size))
            x = x1 + 22
        y += 60
    return image, words, boxes


def backend_available(backend: str) -> bool:
    try:
        return check_ocr_available(OcrConfig(backend=backend)) == backend
    except OcrUnavailableError:
        return False


needs_tesserocr = pytest.mark.skipif(not backend_available("tesserocr"), reason="no tesserocr")
needs_cli = pytest.mark.skipif(not backend_available("pytesseract"), reason="no tesseract CLI")
BACKENDS = [
    pytest.param("tesserocr", marks=needs_tesserocr),
    pytest.param("pytesseract", marks=needs_cli),
]


# ----------------------------------------------------------------------------- pure functions


def test_normalize_box() -> None:
    assert normalize_box((0, 0, 200, 100), 200, 100) == (0, 0, 1000, 1000)
    assert normalize_box((50, 25, 100, 75), 200, 100) == (250, 250, 500, 750)
    assert normalize_box((100, 75, 50, 25), 200, 100) == (250, 250, 500, 750)  # reordered
    assert normalize_box((-5, -5, 500, 500), 200, 100) == (0, 0, 1000, 1000)  # clamped
    with pytest.raises(ValueError, match="positive"):
        normalize_box((0, 0, 1, 1), 0, 10)


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(*[st.floats(-1e5, 1e5, allow_nan=False)] * 4),
    st.integers(1, 20_000),
    st.integers(1, 20_000),
)
def test_normalize_box_in_range(box: tuple, width: int, height: int) -> None:
    x0, y0, x1, y1 = normalize_box(box, width, height)
    assert 0 <= x0 <= x1 <= 1000 and 0 <= y0 <= y1 <= 1000
    assert all(isinstance(v, int) for v in (x0, y0, x1, y1))


TSV = (
    "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
    "1\t1\t0\t0\t0\t0\t0\t0\t200\t100\t-1\t\n"
    "4\t1\t1\t1\t1\t0\t10\t10\t150\t20\t-1\t\n"
    "5\t1\t1\t1\t1\t1\t10\t10\t40\t20\t96.5\tHello\n"
    "5\t1\t1\t1\t1\t2\t60\t10\t40\t20\t95.0\t \n"
    "5\t1\t1\t1\t1\t3\t110\t10\t50\t20\t12.0\tw0rld\n"
    "5\t1\t1\t1\t1\t4\t170\t10\t30\t20\t80.0\tx\ty\n"
)


def test_parse_tsv() -> None:
    words, boxes = parse_tsv(TSV, 200, 100)
    assert words == ["Hello", "w0rld", "x\ty"]
    assert boxes[0] == (50, 100, 250, 300)
    assert parse_tsv(TSV, 200, 100, min_confidence=50)[0] == ["Hello", "x\ty"]
    assert parse_tsv(TSV.split("\n", 1)[1], 200, 100)[0] == words  # no header row
    assert parse_tsv("", 10, 10) == ([], [])


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(alphabet=st.characters(exclude_characters="\t\n\r\x0b\x0c\x1c\x1d\x1e\x85")),
            st.floats(-1, 100, allow_nan=False),
            st.tuples(*[st.integers(-50, 5000)] * 4),
        ),
        max_size=30,
    ),
    st.integers(1, 4000),
    st.integers(1, 4000),
    st.floats(0, 100),
)
def test_parse_tsv_random_output(rows: list, width: int, height: int, min_conf: float) -> None:
    tsv = "".join(
        f"5\t1\t1\t1\t1\t{i}\t{b[0]}\t{b[1]}\t{b[2]}\t{b[3]}\t{conf}\t{text}\n"
        for i, (text, conf, b) in enumerate(rows)
    )
    words, boxes = parse_tsv(tsv, width, height, min_conf)
    assert len(words) == len(boxes)
    kept = [t.strip() for t, c, _ in rows if t.strip() and c >= min_conf]
    assert words == kept
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 <= x1 <= 1000 and 0 <= y0 <= y1 <= 1000


def test_word_recall_and_jaccard() -> None:
    truth = ["The", "Tobacco", "Institute,", "the", "1990"]
    assert word_recall(["the", "TOBACCO", "institute", "the", "1990"], truth) == 1.0
    assert word_recall(["the", "tobacco"], truth) == pytest.approx(3 / 5 - 1 / 5)
    assert word_recall(["the", "the", "the"], ["the"]) == 1.0  # multiset: extras don't count
    assert word_recall([], []) == 1.0 and word_recall(["x"], ["...", ""]) == 1.0
    assert word_recall([], ["a"]) == 0.0
    assert word_jaccard(["a", "b"], ["b", "c"]) == pytest.approx(1 / 3)
    assert word_jaccard(["a", "a"], ["a"]) == pytest.approx(1 / 2)


def test_prepare_image_resize_and_dpi() -> None:
    page = Image.new("L", (1700, 2200), 255)
    page.info["dpi"] = (200, 200)
    same, dpi = prepare_image(page)
    assert same.size == (1700, 2200) and dpi == 200
    small, dpi = prepare_image(page, max_side=1100)
    assert small.size == (850, 1100) and dpi == 100
    bogus = Image.new("RGB", (754, 1000), "white")  # RVL-CDIP pages carry dpi (1, 1)
    bogus.info["dpi"] = (1, 1)
    assert prepare_image(bogus)[1] == 91  # 1000 px over an 11-inch page
    assert prepare_image(Image.new("RGBA", (40, 40)))[0].mode == "RGB"
    assert prepare_image(Image.new("1", (400, 300)), max_side=200)[0].size == (200, 150)
    assert prepare_image(Image.new("P", (10, 10)))[0].mode == "RGB"
    # min_dpi: low-resolution pages are enlarged to it, at most 4x and never past max_side
    up, dpi = prepare_image(bogus, min_dpi=180)
    assert up.size == (1493, 1980) and dpi == 180
    capped, dpi = prepare_image(bogus, max_side=1500, min_dpi=300)
    assert capped.size == (1131, 1500) and dpi == 136
    assert prepare_image(page, min_dpi=180)[0].size == (1700, 2200)  # 200 dpi: as is
    tiny = Image.new("1", (110, 55))  # about 10 dpi: 4x at most, greyscale to resample
    assert prepare_image(tiny, min_dpi=180)[0].size == (440, 220)


def test_config_validation() -> None:
    for bad in (
        {"backend": "easyocr"},
        {"psm": 14},
        {"min_confidence": 101},
        {"max_side": 0},
        {"lang": "eng deu"},
        {"timeout": -1},
        {"min_dpi": 10},
        {"min_dpi": 1200},
    ):
        with pytest.raises(ValueError):
            OcrConfig(**bad)
    assert OcrConfig(lang="eng+osd").languages == ["eng", "osd"]
    assert hash(OcrConfig()) == hash(OcrConfig())  # usable as a cache key
    assert (OcrConfig().timeout_ms, OcrConfig(timeout=0).timeout_ms) == (0, 0)
    assert (OcrConfig(timeout=2.5).timeout_ms, OcrConfig(timeout=1e-6).timeout_ms) == (2500, 1)


@pytest.mark.parametrize("backend", ["auto", "tesserocr", "pytesseract"])
def test_missing_language_is_a_clear_error(backend: str) -> None:
    with pytest.raises(OcrUnavailableError, match="install tesseract-ocr-zzz"):
        OcrEngine(OcrConfig(lang="zzz", backend=backend))


def test_find_tessdata_explicit_folder(tmp_path: Path) -> None:
    (tmp_path / "xyz.traineddata").write_bytes(b"")
    assert ocr.find_tessdata(OcrConfig(lang="xyz", tessdata=str(tmp_path))) == tmp_path
    assert ocr.find_tessdata(OcrConfig(lang="xyz+qqq", tessdata=str(tmp_path))) is None


# ----------------------------------------------------------------------------- real Tesseract


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_recall_and_boxes_on_rendered_page(backend: str) -> None:
    image, truth, truth_boxes = render_page(random.Random(7))
    result = OcrEngine(OcrConfig(backend=backend)).recognize(image)
    assert result.seconds > 0
    # CPU time of the call: the calling thread's, or the tesseract process's (one OMP thread)
    assert 0 < result.cpu_seconds <= result.seconds + 0.01
    assert len(result.words) == len(result.boxes)
    assert word_recall(result.words, truth) >= 0.9
    assert boxes_in_place(result, truth, truth_boxes) >= 0.9 * len(truth)


def boxes_in_place(result, truth: list[str], truth_boxes: list) -> int:
    """How many recognised words have their box centre in the drawn box of the same word."""
    by_word: dict[str, list] = {}
    for w, b in zip(truth, truth_boxes, strict=True):
        by_word.setdefault(w.lower(), []).append(b)
    matched = 0
    for w, (x0, y0, x1, y1) in zip(result.words, result.boxes, strict=True):
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        for tx0, ty0, tx1, ty1 in by_word.get(w.lower(), []):
            if tx0 - 5 <= cx <= tx1 + 5 and ty0 - 5 <= cy <= ty1 + 5:
                matched += 1
                break
    return matched


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_min_dpi_upscales_small_print_into_readable_text(backend: str) -> None:
    """A page scanned at ~38 dpi: Tesseract misses much of it as is; upscaled (capped at 4x)
    it reads nearly every word, and the 0-1000 boxes stay those of the original page."""
    image, truth, truth_boxes = render_page(random.Random(0), lines=8)
    small = image.resize((330, 420), Image.Resampling.LANCZOS)
    as_is = OcrEngine(OcrConfig(backend=backend)).recognize(small)
    upscaled = OcrEngine(OcrConfig(backend=backend, min_dpi=180)).recognize(small)
    assert word_recall(as_is.words, truth) <= 0.75
    assert word_recall(upscaled.words, truth) >= 0.9
    assert boxes_in_place(upscaled, truth, truth_boxes) >= 0.85 * len(truth)


@pytest.mark.slow
@needs_tesserocr
@needs_cli
def test_backends_agree_on_rendered_pages() -> None:
    engines = [OcrEngine(OcrConfig(backend=b)) for b in ("tesserocr", "pytesseract")]
    for seed in (1, 2):
        image, _, _ = render_page(random.Random(seed), lines=6)
        a, b = (e.recognize(image) for e in engines)
        assert word_jaccard(a.words, b.words) >= 0.9


@pytest.mark.slow
@needs_tesserocr
@needs_cli
@pytest.mark.skipif(not RVL_SAMPLE.is_dir(), reason="no RVL-CDIP sample")
def test_backends_agree_on_real_pages() -> None:
    versions = tesseract_version("tesserocr"), tesseract_version("pytesseract")
    if versions[0] != versions[1]:
        pytest.skip(
            f"tesserocr bundles Tesseract {versions[0]}, the CLI is {versions[1]}: different "
            "builds read noisy scans differently (build tesserocr against the system library)"
        )
    rows = list(csv.DictReader((RVL_SAMPLE / "labels.csv").open()))
    engines = [OcrEngine(OcrConfig(backend=b)) for b in ("tesserocr", "pytesseract")]
    for row in (rows[10], rows[60], rows[100]):
        image = Image.open(RVL_SAMPLE / row["file"])
        a, b = (e.recognize(image) for e in engines)
        assert word_jaccard(a.words, b.words) >= 0.9, row["file"]


@pytest.mark.slow
def test_min_confidence_and_max_side() -> None:
    image, truth, _ = render_page(random.Random(3), lines=5)
    image.paste(
        Image.effect_noise((300, 120), 90).point(lambda v: 255 if v > 128 else 0), (700, 1200)
    )
    full = ocr_image(image)
    strict = ocr_image(image, OcrConfig(min_confidence=90))
    assert set(strict.words) <= set(full.words)
    assert len(strict.words) <= len(full.words)
    small = ocr_image(image, OcrConfig(max_side=900))
    assert word_recall(small.words, truth) >= 0.8
    assert all(0 <= v <= 1000 for box in small.boxes for v in box)


@pytest.mark.slow
@needs_tesserocr
def test_engine_cache_and_threads() -> None:
    config = OcrConfig(backend="tesserocr")
    engine = get_engine(config)
    assert get_engine(config) is engine and engine.version
    images = [render_page(random.Random(s), lines=3, size=(700, 400))[0] for s in range(4)]
    serial = [engine.recognize(im).words for im in images]
    results: dict[int, list[str]] = {}

    def work(i: int) -> None:
        results[i] = engine.recognize(images[i]).words

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(4)] == serial


@pytest.mark.slow
def test_recall_on_synthetic_corpus_pages() -> None:
    """Recall against the synthetic corpus's ground truth (pages at RVL-CDIP's ~91 dpi)."""
    synth = pytest.importorskip("docexit.corpus.synth")
    recalls = {}
    for label in ("budget", "letter", "presentation", "resume"):
        page = synth.generate_page(label, random.Random(f"ocr-recall-{label}"))
        result = ocr_image(page.image)
        recalls[label] = word_recall(result.words, page.words)
    assert sum(recalls.values()) / len(recalls) >= 0.7, recalls


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_timeout_stops_the_ocr_of_a_big_page(backend: str) -> None:
    """A dense 2200 x 2800 page cannot be read in 10 ms: Tesseract is stopped, with a clear error;
    the same engine then reads the next page normally."""
    big, _, _ = render_page(random.Random(11), lines=40, size=(2200, 2800))
    engine = OcrEngine(OcrConfig(backend=backend, timeout=0.01))
    start = time.perf_counter()
    with pytest.raises(OcrTimeoutError, match=r"longer than 0.01 s .*--ocr-timeout"):
        engine.recognize(big)
    stopped_after = time.perf_counter() - start
    full = OcrEngine(OcrConfig(backend=backend)).recognize(big)
    assert stopped_after < 0.7 * full.seconds, (stopped_after, full.seconds)  # really stopped
    small, truth, _ = render_page(random.Random(12), lines=2, size=(700, 300))
    patient = OcrEngine(OcrConfig(backend=backend, timeout=60)).recognize(small)
    assert word_recall(patient.words, truth) >= 0.9


@pytest.mark.slow
@needs_tesserocr
def test_timeout_does_not_change_results() -> None:
    image, _, _ = render_page(random.Random(13), lines=8)
    unlimited = OcrEngine(OcrConfig(backend="tesserocr")).recognize(image)
    limited = OcrEngine(OcrConfig(backend="tesserocr", timeout=120)).recognize(image)
    assert (limited.words, limited.boxes) == (unlimited.words, unlimited.boxes)


def test_page_longer_than_tesseract_allows_is_a_clear_error() -> None:
    strip = Image.new("L", (100, 33_000), 255)  # a receipt roll: 3.3 M pixels, but too long
    with pytest.raises(ocr.OcrError, match=r"100x33000 pixels; .*--ocr-max-side"):
        OcrEngine(OcrConfig()).recognize(strip)
    assert OcrEngine(OcrConfig(max_side=4000)).recognize(strip).words == []
