"""Faults found with inputs an attacker would try: each one is a clear dead letter or error."""

from __future__ import annotations

import io
import os
import zlib
from pathlib import Path

import pytest
import torch
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from PIL import Image
from test_incremental import copy_pages

from docexit.pipeline.run import main, run
from docexit.transforms.decode import DEFAULT_MAX_PIXELS, DecodeError, decode_pages
from docexit.transforms.ocr import OcrConfig, OcrEngine, OcrTimeoutError
from docexit.transforms.pdf_limits import check_pdf_limits, max_stream_bytes
from docexit.transforms.sinks import read_parquet

FAST_ARGS = ["--dpi", "100", "--batch-size", "4"]


def _pdf_with_stream(compressed: bytes, extra_objects: int = 0) -> bytes:
    """A one-page PDF whose content stream is `compressed` (FlateDecode)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(compressed)
        + compressed
        + b"\nendstream",
    ]
    objects += [b"<< >>"] * extra_objects
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def _deflate_spaces(size: int) -> bytes:
    """`size` bytes of spaces (a valid, empty content stream), deflated chunk by chunk."""
    compressor = zlib.compressobj(9)
    chunk = b" " * (1 << 20)
    parts = [compressor.compress(chunk) for _ in range(size // len(chunk))]
    return b"".join(parts) + compressor.flush()


def test_pdf_stream_bomb_is_refused_before_pdfium() -> None:
    limit = max_stream_bytes(DEFAULT_MAX_PIXELS)
    bomb = _pdf_with_stream(_deflate_spaces(limit + (8 << 20)))  # ~250 KB on disk
    assert len(bomb) < 2_000_000
    with pytest.raises(DecodeError, match="inflates to more than"):
        list(decode_pages(bomb, "bomb.pdf"))
    fine = _pdf_with_stream(zlib.compress(b"0 0 m 10 10 l S"))
    (page,) = list(decode_pages(fine, "fine.pdf", dpi=72))
    assert page.image.size == (200, 200)


def test_pdf_object_limit() -> None:
    many = _pdf_with_stream(zlib.compress(b" "), extra_objects=50)
    with pytest.raises(DecodeError, match="more than 40 objects"):
        check_pdf_limits(many, "many.pdf", max_stream=1 << 20, max_objects=40)
    check_pdf_limits(many, "many.pdf", max_stream=1 << 20, max_objects=100)


def test_max_pixels_is_the_one_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow's own limit (here scaled down from its 89 M) must not cap --max-pixels."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    buffer = io.BytesIO()
    Image.new("L", (300, 300), 255).save(buffer, "PNG")  # 90,000 pixels > 2 x Pillow's limit
    (page,) = list(decode_pages(buffer.getvalue(), "big.png", max_pixels=100_000))
    assert page.image.size == (300, 300)
    with pytest.raises(DecodeError, match="more than the limit of 50,000"):
        list(decode_pages(buffer.getvalue(), "big.png", max_pixels=50_000))


def test_ocr_past_its_timeout_is_a_timeout_even_when_tesseract_cannot_stop() -> None:
    """A blank page spends its time in layout analysis, which Tesseract cannot cancel."""
    blank = Image.new("L", (2500, 3300), 255)
    with pytest.raises(OcrTimeoutError, match="--ocr-timeout"):
        OcrEngine(OcrConfig(backend="tesserocr", timeout=0.001)).recognize(blank)


@pytest.mark.slow
def test_broken_link_is_a_dead_letter(
    synth_pages: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = copy_pages(synth_pages, tmp_path / "in", ("memo_0000.png",))
    os.symlink(tmp_path / "gone.png", folder / "broken.png")
    argv = ["--input", str(folder / "*"), "--output", str(tmp_path / "out")]
    argv += ["--model", str(tiny_model_dir), *FAST_ARGS]
    summary = run(argv, test_pipeline=BeamTestPipeline(argv=argv))
    assert summary.pages == 1 and summary.dead_letters == {"read": 1}
    (letter,) = read_parquet(summary.dead_letter_files).to_pylist()
    assert letter["source"] == str(folder / "broken.png")
    assert "broken symbolic link" in letter["error_message"]


def test_non_finite_weights_are_refused_at_start_up(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from docexit.models.checkpoint import load_checkpoint, save_checkpoint

    model = load_checkpoint(tiny_model_dir)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(float("nan"))
    save_checkpoint(model, tmp_path / "nan")
    argv = ["--input", str(tmp_path), "--model", str(tmp_path / "nan"), "--output", str(tmp_path)]
    assert main(argv) == 2
    assert "non-finite weights (NaN or inf)" in capsys.readouterr().err
