"""Bounds on what a PDF may make PDFium hold, checked before PDFium opens it.

A small PDF can declare a content stream that inflates to gigabytes, or millions of objects;
PDFium would inflate and hold them whatever `--max-pixels` says. `check_pdf_limits` scans the raw
bytes: it counts objects (top level and inside object streams) and inflates every
`/FlateDecode` stream chunk by chunk, keeping nothing, so its own memory stays bounded; a stream
that inflates past `max_stream_bytes` or a file with more than `max_objects` objects is a
`DecodeError`. Streams in other filters are left to PDFium (image data: `--max-pixels`).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator

MAX_OBJECTS = 500_000
BYTES_PER_PIXEL = 4  # the largest legitimate stream: one page image of max_pixels, CMYK/RGBA
STREAM_SLACK = 16 * 1024 * 1024
_CHUNK = 1 << 20

_OBJECT = re.compile(rb"\d+\s+\d+\s+obj\b")
_STREAM = re.compile(rb"stream\r?\n")
_DICT_TAIL = 2048  # bytes before `stream` searched for the stream's dictionary


def max_stream_bytes(max_pixels: int) -> int:
    """Largest inflated stream accepted: a page image of `max_pixels` at 4 bytes, plus slack."""
    return BYTES_PER_PIXEL * max_pixels + STREAM_SLACK


def _streams(data: bytes) -> Iterator[tuple[bytes, int]]:
    """(stream dictionary bytes, offset of the stream data) for each `stream` keyword."""
    for match in _STREAM.finditer(data):
        start = match.start()
        if start and data[start - 1 : start] not in (b">", b"\n", b"\r", b" "):
            continue  # "endstream" or a name that ends in "stream"
        yield data[max(0, start - _DICT_TAIL) : start], match.end()


def _inflated_size(data: bytes, offset: int, limit: int) -> int:
    """Bytes a Flate stream at `offset` inflates to, counted up to `limit` (+1), nothing kept."""
    inflater = zlib.decompressobj()
    total, position = 0, offset
    while position < len(data) and not inflater.eof and total <= limit:
        chunk = data[position : position + _CHUNK]
        position += len(chunk)
        piece = inflater.decompress(chunk, _CHUNK)
        total += len(piece)
        while inflater.unconsumed_tail and total <= limit:
            piece = inflater.decompress(inflater.unconsumed_tail, _CHUNK)
            total += len(piece)
    return total


def check_pdf_limits(
    data: bytes, source: str, *, max_stream: int, max_objects: int = MAX_OBJECTS
) -> None:
    """Raise DecodeError when the PDF has too many objects or a stream inflating past
    `max_stream` bytes."""
    from docexit.transforms.decode import DecodeError

    objects = len(_OBJECT.findall(data))
    for dictionary, offset in _streams(data):
        last = dictionary.rsplit(b"obj", 1)[-1]
        count = re.search(
            rb"/Type\s*/ObjStm\b.*?/N\s+(\d+)|/N\s+(\d+).*?/Type\s*/ObjStm\b", last, re.S
        )
        if count:
            objects += int(count.group(1) or count.group(2))
        if objects > max_objects:
            break
        if b"/FlateDecode" in last or b"/Fl " in last or b"/Fl]" in last:
            size = _inflated_size(data, offset, max_stream)
            if size > max_stream:
                raise DecodeError(
                    f"{source}: a PDF stream inflates to more than {max_stream:,} bytes "
                    "(decompression bomb?); the limit follows --max-pixels"
                )
    if objects > max_objects:
        raise DecodeError(f"{source}: PDF has more than {max_objects:,} objects")
