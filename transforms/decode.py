"""Decode the bytes of one input file into page images: a pure function, no Beam.

Formats are recognised by content, never by file name: PDF by its `%PDF-` header (rendered with
pypdfium2 at a set DPI), everything else through Pillow (multi-page TIFF, PNG, JPEG, GIF, BMP,
WebP...). Every page comes out EXIF-rotated and in mode "L" (greyscale) or "RGB" (colour): bilevel,
palette, CMYK, alpha and 16/32-bit images are converted. A page whose pixel count exceeds
`max_pixels` is rejected from its header, before any pixel is decoded (decompression bombs); it
is the one pixel limit in force (Pillow's own, lower by default, is raised to it). A PDF whose
streams would inflate past what a page of `max_pixels` needs, or with too many objects, is
rejected before PDFium opens it (`transforms/pdf_limits.py`). Every failure is a `DecodeError` with a message that names the file.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
import warnings
from collections.abc import Iterator

import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageOps, UnidentifiedImageError

from docexit.transforms.page_record import PageRecord
from docexit.transforms.pdf_limits import check_pdf_limits, max_stream_bytes

DEFAULT_DPI = 200
DEFAULT_MAX_PIXELS = 60_000_000  # ~ an A3 page at 600 DPI
DEFAULT_MAX_PAGES = 1000

# PDFium is not thread-safe: every call into it, in any thread of this process, holds this lock.
_PDFIUM_LOCK = threading.Lock()
_PDF_MAGIC = b"%PDF-"
_PDF_MAGIC_WINDOW = 1024  # the PDF spec tolerates junk before the header (Acrobat: 1 KiB)
_POINTS_PER_INCH = 72.0
# Leading bytes of raster formats: names a file Pillow cannot open (truncated, damaged).
_MAGIC = (
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
)


class DecodeError(ValueError):
    """An input file (or one of its pages) could not be decoded into an image."""


def content_hash(data: bytes) -> str:
    """sha256 hex digest of a file's bytes (the pages' `content_hash`)."""
    return hashlib.sha256(data).hexdigest()


def sniff_format(data: bytes) -> str:
    """'pdf' if the bytes hold a PDF, else 'image' (Pillow sniffs the rest by content)."""
    return "pdf" if _PDF_MAGIC in data[:_PDF_MAGIC_WINDOW] else "image"


def _unreadable_message(data: bytes) -> str:
    """Why Pillow could not identify `data`, naming the format its first bytes claim."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return f"starts like a {name} but cannot be read (truncated or damaged file?)"
    return f"not a recognised image or PDF (first bytes {data[:8]!r})"


def decode_pages(
    data: bytes,
    source: str,
    *,
    dpi: int = DEFAULT_DPI,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> Iterator[PageRecord]:
    """Yield every page of one file as a `PageRecord` with its image (0-based `page`, mode "L"
    or "RGB").

    Args:
        data: the whole file's bytes.
        source: the file's path or URL, used for `PageRecord.source` and in error messages.
        dpi: resolution at which PDF pages are rendered (raster formats keep their own pixels).
        max_pixels: largest accepted page (width * height); checked before pixels are decoded.
            PDF pages that would render larger are rendered at a lower DPI instead.
        max_pages: largest accepted page count; a file with more pages is rejected up front.

    Raises:
        DecodeError: empty, truncated, unrecognised, encrypted, too large or too many pages.
            Pages are yielded lazily, so an error may come after earlier pages were yielded;
            its message names the failing page.
    """
    if dpi <= 0 or max_pixels <= 0 or max_pages <= 0:
        raise ValueError(f"dpi, max_pixels and max_pages must be positive ({dpi=}, "
                         f"{max_pixels=}, {max_pages=})")  # fmt: skip
    if not data:
        raise DecodeError(f"{source}: empty file (0 bytes)")
    digest = content_hash(data)
    if sniff_format(data) == "pdf":
        check_pdf_limits(data, source, max_stream=max_stream_bytes(max_pixels))
        pages = _pdf_pages(data, source, dpi=dpi, max_pixels=max_pixels, max_pages=max_pages)
    else:
        pages = _raster_pages(data, source, max_pixels=max_pixels, max_pages=max_pages)
    for index, image in enumerate(pages):
        yield PageRecord(source=source, page=index, content_hash=digest, image=image)


# --- raster images (Pillow) -----------------------------------------------------------------


def _raster_pages(
    data: bytes, source: str, *, max_pixels: int, max_pages: int
) -> Iterator[Image.Image]:
    """Frames of a raster image file (TIFF pages, GIF frames...), normalised."""
    _raise_pillow_limit(max_pixels)
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check: a warning above MAX_IMAGE_PIXELS, an error above twice
            # that. Our `max_pixels` check below is the one that decides; silence the warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise DecodeError(f"{source}: {_unreadable_message(data)}") from None
    except Image.DecompressionBombError as exc:
        raise DecodeError(f"{source}: image too large (decompression bomb?): {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DecodeError(f"{source}: cannot read image header: {exc}") from exc

    with image:
        frames = int(getattr(image, "n_frames", 1) or 1)
        if frames > max_pages:
            raise DecodeError(f"{source}: {frames} pages, more than the limit of {max_pages}")
        for index in range(frames):
            where = f"{source} (page {index + 1} of {frames}, {image.format})"
            try:
                image.seek(index)
            except EOFError:
                raise DecodeError(f"{where}: page missing (truncated file?)") from None
            width, height = image.size
            if width <= 0 or height <= 0:
                raise DecodeError(f"{where}: empty page size {width}x{height}")
            if width * height > max_pixels:
                raise DecodeError(
                    f"{where}: {width}x{height} = {width * height:,} pixels, more than the limit "
                    f"of {max_pixels:,} (decompression bomb?)"
                )
            try:
                image.load()
                page = ImageOps.exif_transpose(image)  # a new image; applies EXIF Orientation
                yield normalise_mode(page)
            except DecodeError:
                raise
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise DecodeError(f"{where}: cannot decode pixels: {exc}") from exc


def _raise_pillow_limit(max_pixels: int) -> None:
    """Pillow refuses images above twice its `MAX_IMAGE_PIXELS` (179 M by default) at open:
    raise that so `max_pixels` decides (only ever raised, so concurrent calls are safe)."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and 2 * limit < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


def normalise_mode(image: Image.Image) -> Image.Image:
    """Return `image` as mode "L" (greyscale) or "RGB" (colour), a copy detached from any file.

    Bilevel -> L; palette -> RGB; alpha is composited onto white; CMYK/YCbCr/LAB/HSV -> RGB;
    16-bit and 32-bit integer images are scaled to 8 bits by their bit depth; float images by
    their min..max range.
    """
    mode = image.mode
    if mode == "L":
        return image.copy()
    if mode == "RGB":
        return image.copy()
    if mode == "1":
        return image.convert("L")
    if mode == "P":
        has_alpha = "transparency" in image.info or image.palette.mode == "RGBA"
        return _flatten_alpha(image.convert("RGBA")) if has_alpha else image.convert("RGB")
    if mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        return _flatten_alpha(image.convert("RGBA" if mode != "LA" else "LA"))
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _to_8bit(image)
    # CMYK, YCbCr, LAB, HSV and anything else Pillow can convert.
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise DecodeError(f"unsupported image mode {mode!r}: {exc}") from exc


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Composite an "LA"/"RGBA" image onto white; a scan has no transparency."""
    if image.mode == "LA":
        background = Image.new("L", image.size, 255)
        background.paste(image.getchannel("L"), mask=image.getchannel("A"))
        return background
    background = Image.new("RGB", image.size, (255, 255, 255))
    background.paste(image.convert("RGB"), mask=image.getchannel("A"))
    return background


def _to_8bit(image: Image.Image) -> Image.Image:
    """Scale a 16-bit ("I;16*"), 32-bit integer ("I") or float ("F") image to mode "L"."""
    pixels = np.asarray(image)
    if image.mode.startswith("I;16"):
        scaled = pixels.astype(np.uint32) >> 8  # 0..65535 -> 0..255
    elif image.mode == "I" and pixels.size and pixels.min() >= 0 and pixels.max() <= 0xFFFF:
        # Pillow opens 16-bit greyscale PNGs as mode "I": treat them as 16-bit.
        scaled = pixels.astype(np.uint32) >> 8 if pixels.max() > 0xFF else pixels
    else:
        values = pixels.astype(np.float64)
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        span = high - low or 1.0
        scaled = np.nan_to_num((values - low) * (255.0 / span), nan=0.0)
    return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), mode="L")


# --- PDF (pypdfium2) -----------------------------------------------------------------------


def _pdf_pages(
    data: bytes, source: str, *, dpi: int, max_pixels: int, max_pages: int
) -> Iterator[Image.Image]:
    """Render the pages of a PDF at `dpi` (lower for pages that would exceed `max_pixels`)."""
    with _PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if "password" in str(exc).lower():
                raise DecodeError(
                    f"{source}: the PDF is encrypted (password-protected) and cannot be opened "
                    f"without its password: {exc}"
                ) from exc
            raise DecodeError(f"{source}: cannot open PDF (damaged or encrypted?): {exc}") from exc
    try:
        with _PDFIUM_LOCK:
            count = len(document)
        if count == 0:
            raise DecodeError(f"{source}: PDF has no pages")
        if count > max_pages:
            raise DecodeError(f"{source}: {count} pages, more than the limit of {max_pages}")
        for index in range(count):
            yield _render_pdf_page(document, index, count, source, dpi, max_pixels)
    finally:
        with _PDFIUM_LOCK:
            document.close()


def _fit_scale(width_pt: float, height_pt: float, scale: float, max_pixels: int) -> float:
    """`scale`, lowered if needed so the rendered page (sides rounded up) has <= max_pixels."""

    def pixels(s: float) -> int:
        return math.ceil(width_pt * s) * math.ceil(height_pt * s)

    if pixels(scale) > max_pixels:  # an oversized page: render at the DPI that fits
        scale *= (max_pixels / pixels(scale)) ** 0.5
        while pixels(scale) > max_pixels:
            scale *= 0.99
    return scale


def _render_pdf_page(
    document: pdfium.PdfDocument, index: int, count: int, source: str, dpi: int, max_pixels: int
) -> Image.Image:
    """Render one PDF page to an "RGB" or "L" image, keeping it under `max_pixels`."""
    where = f"{source} (page {index + 1} of {count}, PDF)"
    with _PDFIUM_LOCK:
        try:
            page = document[index]
            try:
                width_pt, height_pt = page.get_size()
                if width_pt <= 0 or height_pt <= 0:
                    raise DecodeError(f"{where}: empty page size {width_pt}x{height_pt} pt")
                scale = _fit_scale(width_pt, height_pt, dpi / _POINTS_PER_INCH, max_pixels)
                bitmap = page.render(scale=scale)
                image = bitmap.to_pil()
                image.load()
            finally:
                page.close()
        except pdfium.PdfiumError as exc:
            raise DecodeError(f"{where}: cannot render: {exc}") from exc
    return normalise_mode(image)
