"""decode_pages on generated inputs: every format, mode and failure it promises to handle."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from docexit.transforms.decode import DecodeError, decode_pages, normalise_mode, sniff_format


def encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but whose pixel data is a few bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )


@pytest.fixture
def page_rgb() -> Image.Image:
    image = Image.new("RGB", (120, 80), (255, 255, 255))
    image.paste((200, 0, 0), (0, 0, 60, 40))  # a red top-left quarter, to check orientation
    return image


def test_png_greyscale_and_hash() -> None:
    data = encode(Image.new("L", (50, 30), 128), "PNG")
    (page,) = decode_pages(data, "a.png")
    assert (page.source, page.page, page.image.mode, page.image.size) == ("a.png", 0, "L", (50, 30))
    assert page.content_hash == hashlib.sha256(data).hexdigest()


def test_multi_page_tiff_keeps_order_and_modes(page_rgb: Image.Image) -> None:
    frames = [Image.new("L", (40, 20), 10), Image.new("1", (30, 30))]
    data = encode(page_rgb, "TIFF", save_all=True, append_images=frames, compression="tiff_lzw")
    pages = list(decode_pages(data, "multi.tif"))
    assert [p.page for p in pages] == [0, 1, 2]
    assert [(p.image.mode, p.image.size) for p in pages] == [
        ("RGB", (120, 80)),
        ("L", (40, 20)),
        ("L", (30, 30)),
    ]
    assert len({p.content_hash for p in pages}) == 1


def test_pdf_pages_rendered_at_dpi(page_rgb: Image.Image) -> None:
    # PIL writes each image as a page at `resolution` DPI: 120x80 px at 60 DPI = 2x1.33 inches.
    data = encode(
        page_rgb, "PDF", save_all=True, append_images=[Image.new("L", (60, 60))], resolution=60
    )
    pages = list(decode_pages(data, "doc.pdf", dpi=120))
    assert [p.page for p in pages] == [0, 1]
    assert pages[0].image.mode == "RGB"
    assert pages[0].image.size == pytest.approx((240, 160), abs=2)
    assert pages[1].image.size == pytest.approx((120, 120), abs=2)


def test_pdf_oversized_page_renders_at_lower_dpi(page_rgb: Image.Image) -> None:
    data = encode(page_rgb, "PDF", resolution=60)
    (page,) = decode_pages(data, "big.pdf", dpi=600, max_pixels=100_000)
    assert page.image.width * page.image.height <= 100_000


def test_jpeg_exif_orientation_applied(page_rgb: Image.Image) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    (page,) = decode_pages(encode(page_rgb, "JPEG", exif=exif, quality=95), "photo.jpg")
    assert page.image.size == (80, 120)
    red_corner = np.asarray(page.image)[:60, -40:].mean(axis=(0, 1))  # top-right after rotating
    assert red_corner[0] > 150 and red_corner[1] < 80


def test_cmyk_jpeg_becomes_rgb() -> None:
    data = encode(Image.new("CMYK", (20, 20), (0, 255, 255, 0)), "JPEG")
    (page,) = decode_pages(data, "cmyk.jpg")
    assert page.image.mode == "RGB"
    r, g, b = page.image.getpixel((10, 10))
    assert r > 200 and g < 60 and b < 60


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_greyscale_scaled_to_8_bit(fmt: str) -> None:
    pixels = np.array([[0, 32768, 65535]], dtype=np.uint16)
    data = encode(Image.fromarray(pixels, mode="I;16"), fmt)
    (page,) = decode_pages(data, f"deep.{fmt.lower()}")
    assert page.image.mode == "L"
    assert list(np.asarray(page.image)[0]) == [0, 128, 255]


def test_palette_with_transparency_flattened_on_white() -> None:
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0)).convert("P")
    image.info["transparency"] = 0
    (page,) = decode_pages(encode(image, "PNG"), "pal.png")
    assert page.image.mode == "RGB"
    assert page.image.getpixel((5, 5)) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["1", "LA", "RGBA", "F", "I"])
def test_normalise_mode_gives_l_or_rgb(mode: str) -> None:
    assert normalise_mode(Image.new(mode, (4, 4))).mode in ("L", "RGB")


def test_wrong_extension_is_sniffed(page_rgb: Image.Image) -> None:
    (png_named_pdf,) = decode_pages(encode(page_rgb, "PNG"), "scan.pdf")
    assert png_named_pdf.image.size == (120, 80)
    pdf_bytes = encode(page_rgb, "PDF", resolution=72)
    assert sniff_format(pdf_bytes) == "pdf"
    (pdf_named_tif,) = decode_pages(pdf_bytes, "scan.tif", dpi=72)
    assert pdf_named_tif.image.size == pytest.approx((120, 80), abs=2)


def test_zero_byte_file() -> None:
    with pytest.raises(DecodeError, match="empty file"):
        list(decode_pages(b"", "empty.png"))


def test_truncated_jpeg(page_rgb: Image.Image) -> None:
    data = encode(page_rgb.resize((400, 400)), "JPEG")
    with pytest.raises(DecodeError, match=r"trunc\.jpg .*cannot decode pixels"):
        list(decode_pages(data[: len(data) // 2], "trunc.jpg"))


def test_truncated_pdf(page_rgb: Image.Image) -> None:
    data = encode(page_rgb, "PDF")
    with pytest.raises(DecodeError, match="cannot open PDF"):
        list(decode_pages(data[:100], "cut.pdf"))


def test_truncated_tiff_names_its_format(page_rgb: Image.Image) -> None:
    data = encode(page_rgb.resize((600, 800)), "TIFF", compression="tiff_lzw")
    with pytest.raises(DecodeError, match=r"cut\.tif: starts like a TIFF but cannot be read"):
        list(decode_pages(data[: len(data) // 2], "cut.tif"))


def test_encrypted_pdf_says_it_needs_a_password() -> None:
    import pypdfium2

    from docexit.benchmarks.bad_inputs import encrypted_pdf

    data = encrypted_pdf(b"secret")
    with pytest.raises(DecodeError, match="encrypted \\(password-protected\\)"):
        list(decode_pages(data, "locked.pdf"))
    document = pypdfium2.PdfDocument(data, password="secret")  # a real encrypted PDF
    assert len(document) == 1
    document.close()


def test_not_an_image() -> None:
    with pytest.raises(DecodeError, match="not a recognised image or PDF"):
        list(decode_pages(b"label,source\nletter,a.png\n", "labels.png"))


def test_pixel_bomb_rejected_from_header() -> None:
    with pytest.raises(DecodeError, match="more than the limit"):
        list(decode_pages(png_header_only(9000, 9000), "bomb.png"))  # 81 MP > 60 MP default


def test_huge_pixel_bomb_rejected_by_pillow_guard() -> None:
    with pytest.raises(DecodeError, match="decompression bomb"):
        list(decode_pages(png_header_only(100_000, 100_000), "bomb.png"))


def test_too_many_pages_rejected_before_decoding() -> None:
    frames = [Image.new("L", (8, 8))] * 4
    data = encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    with pytest.raises(DecodeError, match="4 pages, more than the limit of 3"):
        list(decode_pages(data, "many.tif", max_pages=3))
