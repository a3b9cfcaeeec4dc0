"""Bad and awkward input files, generated (never committed), for tests and robustness runs.

Each kind is what a real archive holds and what the pipeline must make of it: a dead letter at
a named stage, or ordinary rows (a blank page is still a page). Used by tests/test_bad_inputs.py
and by the "10% bad files" run:

    python -m docexit.benchmarks.bad_inputs --out /tmp/bad200 --n 20 --seed 0 --failing-only

`write_bad_inputs(folder, n, seed)` cycles through the kinds, so n >= len(kinds) gives every kind.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw


@dataclass(frozen=True)
class BadInput:
    """One generated file and what the pipeline must make of it."""

    kind: str
    path: Path  # as written (a non-UTF-8 name is kept as Python's surrogate-escaped str)
    stage: str | None  # the dead-letter stage it must end in; None: it must give rows
    pages: int  # rows it must give (0 when it is a dead letter)


# --- page images ---------------------------------------------------------------------------


def text_page(rng: random.Random) -> Image.Image:
    """A synthetic scanned page of a random class (the corpus generator's pages)."""
    from docexit.corpus.synth import LABELS, generate_page

    return generate_page(rng.choice(LABELS), rng, degraded=False).image


def _encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def oversized_png(width: int, height: int) -> bytes:
    """A few hundred bytes whose PNG header claims width x height pixels (a decompression bomb:
    it must be refused from its header, before any pixel is decoded)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 256))
        + _png_chunk(b"IEND", b"")
    )


# --- PDFs ----------------------------------------------------------------------------------

# The padding string of the PDF standard security handler (PDF 1.7, 7.6.3.3).
_PDF_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) % 256
        state[i], state[j] = state[j], state[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + state[i]) % 256
        state[i], state[j] = state[j], state[i]
        out.append(byte ^ state[(state[i] + state[j]) % 256])
    return bytes(out)


def _pdf(objects: Sequence[bytes], trailer: bytes) -> bytes:
    """A PDF file from numbered objects (1..n) with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        trailer,
        xref,
    )
    return bytes(out)


def encrypted_pdf(user_password: bytes, owner_password: bytes = b"owner") -> bytes:
    """A one-page PDF encrypted with the standard security handler (RC4, 40 bits, revision 2)
    that needs `user_password` to open, like a password-protected scan."""
    file_id = hashlib.md5(user_password + owner_password).digest()
    padded_user = (user_password + _PDF_PAD)[:32]
    owner_key = hashlib.md5((owner_password + _PDF_PAD)[:32]).digest()[:5]
    owner_entry = _rc4(owner_key, padded_user)
    permissions = -4
    file_key = hashlib.md5(
        padded_user + owner_entry + struct.pack("<i", permissions) + file_id
    ).digest()[:5]
    user_entry = _rc4(file_key, _PDF_PAD)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",  # no strings to encrypt
        b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>"
        % (owner_entry.hex().encode(), user_entry.hex().encode(), permissions),
    ]
    trailer = b"/Root 1 0 R /Encrypt 4 0 R /ID [<%s> <%s>]" % (
        file_id.hex().encode(),
        file_id.hex().encode(),
    )
    return _pdf(objects, trailer)


def broken_pdf(rng: random.Random) -> bytes:
    """A PDF header, half an object and random bytes: no catalog, no cross-reference table."""
    return b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R\n" + rng.randbytes(2000)


# --- the kinds -----------------------------------------------------------------------------

Maker = Callable[[random.Random], tuple[str, bytes]]  # rng -> (file name suffix, bytes)


def _zero_bytes(rng: random.Random) -> tuple[str, bytes]:
    return "scan.tif", b""


def _truncated_tiff(rng: random.Random) -> tuple[str, bytes]:
    data = _encode(text_page(rng), "TIFF", compression="tiff_lzw")
    return "scan.tif", data[: int(len(data) * rng.uniform(0.3, 0.7))]


def _encrypted_pdf(rng: random.Random) -> tuple[str, bytes]:
    return "protected.pdf", encrypted_pdf(f"secret-{rng.randrange(10**6)}".encode())


def _broken_pdf(rng: random.Random) -> tuple[str, bytes]:
    return "broken.pdf", broken_pdf(rng)


def _oversized_image(rng: random.Random) -> tuple[str, bytes]:
    side = rng.randint(30_000, 40_000)  # 30,000 x 30,000 pixels and up
    return "huge.png", oversized_png(side, side)


def _not_an_image(rng: random.Random) -> tuple[str, bytes]:
    return "notes.png", ("meeting notes, not a scan\n" * rng.randint(1, 50)).encode()


def _wrong_extension(rng: random.Random) -> tuple[str, bytes]:
    return "scan.pdf", _encode(text_page(rng), "PNG")  # a PNG named .pdf: sniffed by content


def _blank_page(rng: random.Random) -> tuple[str, bytes]:
    shade = rng.randint(235, 255)
    return "blank.png", _encode(Image.new("L", (850, 1100), shade), "PNG")


def _no_text_page(rng: random.Random) -> tuple[str, bytes]:
    """Shapes and no words (a diagram, a photo-like page)."""
    image = Image.new("L", (850, 1100), 255)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(5, 15)):
        x0, y0 = rng.randrange(0, 700), rng.randrange(0, 950)
        box = (x0, y0, x0 + rng.randint(20, 150), y0 + rng.randint(20, 150))
        if rng.random() < 0.5:
            draw.ellipse(box, outline=rng.randint(0, 120), width=rng.randint(2, 6))
        else:
            draw.rectangle(box, fill=rng.randint(60, 200))
    return "diagram.png", _encode(image, "PNG")


def _too_long_for_tesseract(rng: random.Random) -> tuple[str, bytes]:
    """A receipt-roll scan: under the pixel limit, but longer than Tesseract's 32767 pixels."""
    image = Image.new("L", (240, rng.randint(33_000, 40_000)), 255)
    draw = ImageDraw.Draw(image)
    for y in range(200, image.height - 200, 400):
        draw.text((20, y), f"ITEM {y // 400:04d}  {rng.randint(1, 999)}.00", fill=0)
    return "receipt-roll.png", _encode(image, "PNG")


def _non_utf8_name(rng: random.Random) -> tuple[str, bytes]:
    # Latin-1 bytes (0xe9 = é) as an old scanner wrote them: not UTF-8.
    name = os.fsdecode(b"r\xe9sum\xe9-" + str(rng.randrange(1000)).encode() + b".png")
    return name, _encode(text_page(rng), "PNG")


# kind -> (maker, dead-letter stage or None, pages when it gives rows)
KINDS: dict[str, tuple[Maker, str | None, int]] = {
    "zero_bytes": (_zero_bytes, "decode", 0),
    "truncated_tiff": (_truncated_tiff, "decode", 0),
    "encrypted_pdf": (_encrypted_pdf, "decode", 0),
    "broken_pdf": (_broken_pdf, "decode", 0),
    "oversized_image": (_oversized_image, "decode", 0),
    "not_an_image": (_not_an_image, "decode", 0),
    "too_long_for_tesseract": (_too_long_for_tesseract, "ocr", 0),
    "wrong_extension": (_wrong_extension, None, 1),
    "blank_page": (_blank_page, None, 1),
    "no_text_page": (_no_text_page, None, 1),
    "non_utf8_name": (_non_utf8_name, None, 1),
}
FAILING_KINDS = tuple(kind for kind, (_, stage, _) in KINDS.items() if stage is not None)


def non_utf8_names_allowed(folder: Path) -> bool:
    """Whether `folder`'s filesystem accepts a file name that is not UTF-8."""
    probe = Path(os.fsdecode(os.fsencode(folder) + b"/.probe-\xff"))
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except (OSError, UnicodeError):
        return False
    return True


def write_bad_inputs(
    folder: str | Path, n: int, seed: int = 0, kinds: Sequence[str] | None = None
) -> list[BadInput]:
    """Write `n` files into `folder`, cycling through `kinds` (default: every kind, except a
    non-UTF-8 name where the filesystem refuses one). Deterministic for a seed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chosen = list(kinds or KINDS)
    if "non_utf8_name" in chosen and not non_utf8_names_allowed(folder):
        chosen.remove("non_utf8_name")
    written = []
    for index in range(n):
        kind = chosen[index % len(chosen)]
        maker, stage, pages = KINDS[kind]
        rng = random.Random(f"docexit-bad-inputs:{seed}:{index}")
        name, data = maker(rng)
        path = folder / f"bad-{index:03d}-{kind}-{name}"
        path.write_bytes(data)
        written.append(BadInput(kind, path, stage, pages))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder to write into")
    parser.add_argument("--n", type=int, default=len(KINDS), help="files (default: one per kind)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--failing-only", action="store_true", help="only kinds that must become dead letters"
    )
    args = parser.parse_args(argv)
    kinds = FAILING_KINDS if args.failing_only else None
    for item in write_bad_inputs(args.out, args.n, args.seed, kinds):
        expected = f"dead letter at {item.stage}" if item.stage else f"{item.pages} row(s)"
        print(f"{item.kind:<16} {expected:<24} {os.fsencode(item.path).decode(errors='replace')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
