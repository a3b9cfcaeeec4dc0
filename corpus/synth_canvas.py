"""A greyscale drawing surface that records the words drawn on it, plus its fonts.

Fonts come from matplotlib's bundled TrueType files (DejaVu Sans/Serif/Mono and STIX, a
Times-like serif): matplotlib is a project dependency, so pages render identically wherever the
package installs, without system fonts.
"""

from __future__ import annotations

import importlib.util
import math
import random
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFont

from docexit.corpus import synth_text as txt

PixelBox = tuple[int, int, int, int]

# family -> (regular, bold, italic, bold italic)
FONT_FILES: dict[str, tuple[str, str, str, str]] = {
    "sans": (
        "DejaVuSans.ttf",
        "DejaVuSans-Bold.ttf",
        "DejaVuSans-Oblique.ttf",
        "DejaVuSans-BoldOblique.ttf",
    ),
    "serif": (
        "DejaVuSerif.ttf",
        "DejaVuSerif-Bold.ttf",
        "DejaVuSerif-Italic.ttf",
        "DejaVuSerif-BoldItalic.ttf",
    ),
    "mono": (
        "DejaVuSansMono.ttf",
        "DejaVuSansMono-Bold.ttf",
        "DejaVuSansMono-Oblique.ttf",
        "DejaVuSansMono-BoldOblique.ttf",
    ),
    "times": (
        "STIXGeneral.ttf",
        "STIXGeneralBol.ttf",
        "STIXGeneralItalic.ttf",
        "STIXGeneralBolIta.ttf",
    ),
}
FAMILIES = tuple(FONT_FILES)


@lru_cache(maxsize=1)
def font_dir() -> Path:
    """matplotlib's bundled TrueType folder (found without importing matplotlib)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "docexit synth needs matplotlib's bundled fonts: pip install matplotlib"
        )
    folder = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"
    missing = [f for files in FONT_FILES.values() for f in files if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"fonts missing from {folder}: {', '.join(missing)}")
    return folder


@lru_cache(maxsize=1024)
def load_font(
    family: str, size: int, bold: bool = False, italic: bool = False
) -> ImageFont.FreeTypeFont:
    """A cached TrueType font of `family` at `size` pixels."""
    name = FONT_FILES[family][int(bold) + 2 * int(italic)]
    return ImageFont.truetype(str(font_dir() / name), size)


class Canvas:
    """A greyscale page being drawn; records each drawn word and its pixel box."""

    def __init__(
        self,
        label: str,
        rng: random.Random,
        width: int,
        height: int,
        archive_words: txt.ArchiveWords | None = None,
    ) -> None:
        self.label, self.rng = label, rng
        self.width, self.height = width, height
        self.image = Image.new("L", (width, height), 255)
        self.draw = ImageDraw.Draw(self.image)
        self.words: list[str] = []
        self.boxes: list[PixelBox] = []
        # Page style: one family and body size per page, margins, ink, class-word share.
        self.family = rng.choice(FAMILIES)
        self.size = rng.randint(13, 18)
        self.left = rng.randint(45, 105)
        self.right = width - rng.randint(45, 100)
        self.top = rng.randint(35, 95)
        self.bottom = height - rng.randint(40, 90)
        self.ink = rng.randint(0, 50)
        self.leading = rng.uniform(1.2, 1.55)
        # Share of class words in running text: a quarter of pages are almost all generic text.
        self.share = rng.uniform(0.0, 0.05) if rng.random() < 0.25 else rng.uniform(0.06, 0.24)
        # Scales the (higher) class-word share asked for in titles, captions and slogans.
        self.caption_scale = rng.uniform(0.25, 0.8)
        self.pen_family = rng.choice(["sans", "serif", "times"])
        self.slant = rng.uniform(-0.1, 0.35)
        # A real document's words for the running text, when the page is given one.
        self.archive_words = archive_words

    # ---- fonts and text -------------------------------------------------------------------
    def font(
        self,
        size: int | None = None,
        bold: bool = False,
        italic: bool = False,
        family: str | None = None,
    ) -> ImageFont.FreeTypeFont:
        """A font of this page's family (or `family`) at `size` (default: body size)."""
        return load_font(family or self.family, max(6, size or self.size), bold, italic)

    def fit(
        self,
        text: str,
        width: float,
        size: int,
        bold: bool = False,
        italic: bool = False,
        family: str | None = None,
    ) -> ImageFont.FreeTypeFont:
        """The largest font up to `size` in which `text` fits in `width` pixels."""
        font = self.font(size, bold, italic, family)
        while size > 8 and font.getlength(text) > width:
            size = max(8, int(size * width / font.getlength(text)))
            font = self.font(size, bold, italic, family)
        return font

    def line_height(self, font: ImageFont.FreeTypeFont) -> int:
        """Baseline-to-baseline distance for `font`."""
        return int(font.size * self.leading) + 1

    def text(
        self,
        x: float,
        y: float,
        text: str,
        font: ImageFont.FreeTypeFont | None = None,
        fill: int | None = None,
    ) -> int:
        """Draw `text` word by word from (x, y); returns the x after the last word."""
        font = font or self.font()
        fill = self.ink if fill is None else fill
        space = font.getlength(" ")
        x = int(x)
        for token in text.split():
            box = self.draw.textbbox((x, y), token, font=font)
            self.draw.text((x, y), token, font=font, fill=fill)
            self.record(token, box)
            x += int(font.getlength(token) + space)
        return x

    def text_right(
        self, x1: float, y: float, text: str, font: ImageFont.FreeTypeFont | None = None
    ) -> None:
        """Draw `text` ending at x1."""
        font = font or self.font()
        self.text(x1 - font.getlength(text), y, text, font)

    def text_center(
        self, cx: float, y: float, text: str, font: ImageFont.FreeTypeFont | None = None
    ) -> None:
        """Draw `text` centred on cx."""
        font = font or self.font()
        self.text(cx - font.getlength(text) / 2, y, text, font)

    def wrap(
        self,
        x: int,
        y: int,
        width: int,
        tokens: Sequence[str],
        font: ImageFont.FreeTypeFont | None = None,
        max_y: int | None = None,
    ) -> int:
        """Draw `tokens` as a left-aligned wrapped block; returns the y below it."""
        font = font or self.font()
        max_y = self.bottom if max_y is None else max_y
        step, space = self.line_height(font), font.getlength(" ")
        line: list[str] = []
        used = 0.0
        for token in tokens:
            length = font.getlength(token)
            if line and used + length > width:
                if y + step > max_y:
                    return y
                self.text(x, y, " ".join(line), font)
                y, line, used = y + step, [], 0
            line.append(token)
            used += length + space
        if line and y + step <= max_y:
            self.text(x, y, " ".join(line), font)
            y += step
        return y

    def paragraphs(
        self,
        x: int,
        y: int,
        width: int,
        count: int,
        font: ImageFont.FreeTypeFont | None = None,
        max_y: int | None = None,
        sentences: tuple[int, int] = (2, 5),
    ) -> int:
        """`count` paragraphs of class-mixed text; returns the y below them."""
        font = font or self.font()
        max_y = self.bottom if max_y is None else max_y
        for _ in range(count):
            tokens = self.body(self.rng.randint(*sentences))
            y = self.wrap(x, y, width, tokens, font, max_y) + self.line_height(font) // 2
            if y >= max_y - self.line_height(font):
                break
        return y

    def record(self, word: str, box: Sequence[float]) -> None:
        """Remember a drawn word and its pixel box."""
        self.words.append(word)
        self.boxes.append(tuple(int(v) for v in box))  # type: ignore[arg-type]

    def body(self, sentences: int, share: float | None = None) -> list[str]:
        """Tokens of a paragraph of `sentences` sentences: the archive document's next words
        when the page has one, otherwise generated text with `share` class words (default: the
        page's)."""
        if self.archive_words is not None:
            return self.archive_words.take(sum(self.rng.randint(6, 18) for _ in range(sentences)))
        return txt.paragraph(
            self.rng, self.label, sentences, self.share if share is None else share
        )

    def phrase(self, n: int, share: float | None = None) -> str:
        """`n` words as a string: the archive document's next words when the page has one,
        otherwise class-mixed (`share` is scaled by the page's caption scale)."""
        if self.archive_words is not None:
            return " ".join(self.archive_words.take(n))
        share = self.share if share is None else share * self.caption_scale
        return " ".join(txt.words(self.rng, n, self.label, share))

    def title(self, n: int | None = None) -> str:
        """A short capitalised title of `n` (default 2-6) class-mixed words."""
        return txt.title(self.rng, self.label, n, 0.35 * self.caption_scale)

    # ---- shapes ----------------------------------------------------------------------------
    def rule(
        self, x0: float, y0: float, x1: float, y1: float | None = None, width: int = 1
    ) -> None:
        """A straight line (horizontal when y1 is omitted)."""
        self.draw.line([(x0, y0), (x1, y0 if y1 is None else y1)], fill=self.ink, width=width)

    def rect(self, box: Sequence[float], width: int = 1, fill: int | None = None) -> None:
        """A rectangle outline (optionally filled)."""
        self.draw.rectangle(list(box), outline=self.ink, width=width, fill=fill)

    def checkbox(self, x: int, y: int, size: int, checked: bool) -> None:
        """A square check box, ticked or crossed when `checked`."""
        self.rect((x, y, x + size, y + size))
        if checked:
            pen = max(2, size // 6)
            if self.rng.random() < 0.5:
                self.draw.line(
                    [(x + 2, y + size // 2), (x + size // 2, y + size - 2), (x + size + 3, y - 4)],
                    fill=self.ink,
                    width=pen,
                )
            else:
                self.draw.line(
                    [(x + 2, y + 2), (x + size - 2, y + size - 2)], fill=self.ink, width=pen
                )
                self.draw.line(
                    [(x + 2, y + size - 2), (x + size - 2, y + 2)], fill=self.ink, width=pen
                )

    def scribble(self, box: Sequence[float], strokes: int = 3, width: int = 2) -> None:
        """Pen strokes (cubic Bezier curves) inside `box`: signatures, doodles, ticks."""
        x0, y0, x1, y1 = box
        rng = self.rng
        for _ in range(strokes):
            pts = [(rng.uniform(x0, x1), rng.uniform(y0, y1)) for _ in range(4)]
            curve = []
            for i in range(25):
                t = i / 24
                a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t**3
                curve.append(
                    (
                        a * pts[0][0] + b * pts[1][0] + c * pts[2][0] + d * pts[3][0],
                        a * pts[0][1] + b * pts[1][1] + c * pts[2][1] + d * pts[3][1],
                    )
                )
            self.draw.line(curve, fill=self.ink + 20, width=width, joint="curve")

    def picture(self, box: Sequence[float], dither: bool | None = None) -> None:
        """A photo-like area: smooth random blobs, optionally halftoned."""
        x0, y0, x1, y1 = (int(v) for v in box)
        w, h = max(2, x1 - x0), max(2, y1 - y0)
        rng = self.rng
        gw, gh = rng.randint(3, 8), rng.randint(3, 8)
        grid = Image.new("L", (gw, gh))
        grid.putdata([rng.randint(30, 240) for _ in range(gw * gh)])
        photo = grid.resize((w, h), Image.Resampling.BICUBIC)
        shade = ImageDraw.Draw(photo)
        for _ in range(rng.randint(1, 4)):
            cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.1, 0.4) * min(w, h)
            shade.ellipse((cx - r, cy - r * 1.4, cx + r, cy + r * 1.4), fill=rng.randint(10, 120))
        if dither if dither is not None else rng.random() < 0.5:
            photo = photo.convert("1").convert("L")
        self.image.paste(photo, (x0, y0))
        if rng.random() < 0.6:
            self.rect((x0, y0, x1, y1))

    def hand(
        self, x: int, y: int, text: str, size: int, max_x: int | None = None
    ) -> tuple[int, int]:
        """Handwriting-like text: per-letter jitter, slant and a wavy baseline, word by word.

        Returns the position after the text, wrapping at `max_x`."""
        rng, font = self.rng, load_font(self.pen_family, size, False, self.rng.random() < 0.5)
        max_x = self.right if max_x is None else max_x
        start_x, ink = x, min(120, self.ink + rng.randint(0, 60))
        for token in text.split():
            width = int(font.getlength(token) * 1.15) + size
            if x + width > max_x and x > start_x:
                x, y = start_x + rng.randint(-6, 6), y + int(size * rng.uniform(1.5, 1.9))
            if y + size * 2 > self.height:
                break
            word = Image.new("L", (width, size * 2), 255)
            pen = ImageDraw.Draw(word)
            cx = size // 3
            for ch in token:
                pen.text(
                    (cx, size // 3 + rng.uniform(-0.08, 0.08) * size),
                    ch,
                    font=font,
                    fill=ink,
                    stroke_width=rng.choice((0, 0, 1)),
                    stroke_fill=ink,
                )
                cx += font.getlength(ch) * rng.uniform(0.9, 1.15)
            shear = self.slant + rng.uniform(-0.05, 0.05)
            word = word.transform(
                word.size, Image.Transform.AFFINE, (1, shear, -shear * size, 0, 1, 0), fillcolor=255
            )
            word = word.rotate(
                rng.uniform(-3, 3), fillcolor=255, resample=Image.Resampling.BILINEAR
            )
            dy = int(rng.uniform(-0.1, 0.1) * size)
            region = (x, y + dy, x + word.width, y + dy + word.height)
            if region[2] <= self.width and region[3] <= self.height:
                self.image.paste(ImageChops.darker(self.image.crop(region), word), region[:2])
                bbox = ImageChops.invert(word).getbbox()
                if bbox:
                    self.record(
                        token, (x + bbox[0], y + dy + bbox[1], x + bbox[2], y + dy + bbox[3])
                    )
            x += int(cx + font.getlength(" ") * rng.uniform(0.8, 1.6))
        return x, y


def rotate_point(x: float, y: float, cx: float, cy: float, degrees: float) -> tuple[float, float]:
    """(x, y) rotated about (cx, cy) as PIL's `rotate(degrees)` moves pixels."""
    a = math.radians(degrees)
    dx, dy = x - cx, y - cy
    return cx + dx * math.cos(a) + dy * math.sin(a), cy - dx * math.sin(a) + dy * math.cos(a)
