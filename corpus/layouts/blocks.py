"""Drawing helpers shared by the page templates: letterheads, label/value fields,
signatures, tables, lists, boxes, text columns, and the marks added on top of any page (Bates
numbers, fax transmission lines). Confusable classes share these blocks so that only subtle cues
tell them apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageChops, ImageDraw, ImageFont

from docexit.corpus import synth_text as txt
from docexit.corpus.synth_canvas import FAMILIES, Canvas, load_font


def letterhead(c: Canvas, centered: bool | None = None) -> int:
    """Company name, address and maybe a logo and rule; returns the y below it."""
    rng = c.rng
    centered = rng.random() < 0.5 if centered is None else centered
    name = txt.company(rng).upper() if rng.random() < 0.5 else txt.company(rng)
    big = c.font(rng.randint(20, 32), bold=True, family=rng.choice(FAMILIES))
    small = c.font(rng.randint(10, 13))
    y = c.top
    if rng.random() < 0.4:
        s = rng.randint(36, 60)
        lx = (c.width - s) // 2 if centered else c.left
        (c.draw.ellipse if rng.random() < 0.5 else c.draw.rectangle)(
            (lx, y, lx + s, y + s), fill=c.ink
        )
        y += s + 8
    lines = [name, *txt.address(rng)] + (
        [f"Telephone {txt.phone(rng)}"] if rng.random() < 0.6 else []
    )
    for i, line in enumerate(lines):
        font = big if i == 0 else small
        if centered:
            c.text_center(c.width / 2, y, line, font)
        else:
            c.text(c.left, y, line, font)
        y += c.line_height(font)
    if rng.random() < 0.6:
        c.rule(c.left, y + 4, c.right, width=rng.randint(1, 3))
    return y + rng.randint(20, 45)


def fields(
    c: Canvas,
    x: int,
    y: int,
    pairs: Sequence[tuple[str, str]],
    font: ImageFont.FreeTypeFont | None = None,
    gap: int | None = None,
    bold_labels: bool = True,
) -> int:
    """`Label: value` rows with aligned values; returns the y below them."""
    font = font or c.font()
    label_font = c.font(font.size, bold=bold_labels)
    gap = gap or int(max(label_font.getlength(k) for k, _ in pairs)) + c.rng.randint(15, 40)
    for key, value in pairs:
        c.text(x, y, key, label_font)
        c.text(x + gap, y, value, font)
        y += int(c.line_height(font) * c.rng.uniform(1.1, 1.6))
    return y


def signature(c: Canvas, x: int, y: int) -> int:
    """A closing signature: pen strokes over a typed name and title; returns y below."""
    c.scribble((x, y, x + c.rng.randint(100, 180), y + 40), strokes=c.rng.randint(2, 4))
    y += 48
    c.text(x, y, txt.person(c.rng))
    y += c.line_height(c.font())
    if c.rng.random() < 0.6:
        c.text(x, y, c.phrase(c.rng.randint(1, 3)).title())
        y += c.line_height(c.font())
    return y


def table(
    c: Canvas,
    x: int,
    y: int,
    widths: Sequence[int],
    rows: Sequence[Sequence[str]],
    font: ImageFont.FreeTypeFont | None = None,
    grid: bool = False,
    header: bool = True,
    max_y: int | None = None,
) -> int:
    """A table: text columns left-aligned, numeric columns right-aligned; returns y below."""
    font = font or c.font()
    step = int(c.line_height(font) * (1.25 if grid else 1.05))
    max_y = c.bottom if max_y is None else max_y
    x_end = x + sum(widths)
    top = y - 3
    for r, row in enumerate(rows):
        if y + step > max_y:
            break
        fnt = c.font(font.size, bold=True) if header and r == 0 else font
        cx = x
        for w, cell in zip(widths, row, strict=False):
            numeric = cell[:1] in "$(-0123456789" and r > 0
            if numeric:
                c.text_right(cx + w - 6, y, cell, fnt)
            elif cell:
                c.text(cx + 4, y, cell, fnt)
            cx += w
        y += step
        if grid or (header and r == 0):
            c.rule(x, y - 4, x_end)
    if grid and y - 4 > top:  # no frame when not even one row fitted (near the page bottom)
        c.rect((x, top, x_end, y - 4))
        cx = x
        for w in widths[:-1]:
            cx += w
            c.rule(cx, top, cx, y - 4)
    return y + 10


def split_widths(c: Canvas, total: int, parts: Sequence[float]) -> list[int]:
    """Column widths proportional to `parts` filling `total` pixels."""
    s = sum(parts)
    return [int(total * p / s) for p in parts]


def bullet_list(
    c: Canvas,
    x: int,
    y: int,
    width: int,
    items: int,
    font: ImageFont.FreeTypeFont,
    marker: str | None = None,
    max_y: int | None = None,
) -> int:
    """A bulleted or numbered list; returns the y below it."""
    marker = marker or c.rng.choice(["-", "*", "o", "1."])
    for i in range(items):
        mark = f"{i + 1}." if marker == "1." else marker
        c.text(x, y, mark, font)
        y = c.wrap(
            x + int(font.size * 1.6),
            y,
            width - int(font.size * 1.6),
            c.phrase(c.rng.randint(3, 12)).split(),
            font,
            max_y,
        )
        y += int(font.size * 0.4)
    return y


def body_width(c: Canvas) -> int:
    """Width of the text block between the margins."""
    return c.right - c.left


def bates(c: Canvas) -> None:
    """An archive control number stamped in a margin (as on many RVL-CDIP pages)."""
    font = load_font("mono", c.rng.randint(11, 15), c.rng.random() < 0.5)
    number = (
        str(c.rng.randint(10**9, 10**10 - 1))
        if c.rng.random() < 0.7
        else f"TNWL {c.rng.randint(10**6, 10**7)}"
    )
    if c.rng.random() < 0.6:
        c.text_right(
            c.width - c.rng.randint(20, 60), c.height - c.rng.randint(25, 45), number, font
        )
        return
    w, h = int(font.getlength(number)) + 4, font.size + 6
    stamp = Image.new("L", (w, h), 255)
    ImageDraw.Draw(stamp).text((2, 1), number, font=font, fill=c.ink)
    stamp = stamp.rotate(90, expand=True)
    x, y = c.width - h - c.rng.randint(5, 20), c.rng.randint(c.height // 2, c.height - w - 20)
    c.image.paste(ImageChops.darker(c.image.crop((x, y, x + h, y + w)), stamp), (x, y))
    c.record(number, (x, y, x + h, y + w))


def correspondence_header(c: Canvas, kind: str, y: int) -> int:
    """TO/FROM/DATE/SUBJECT-style header block for memos, e-mails and fax-like letters."""
    rng = c.rng
    to, sender = txt.person(rng), txt.person(rng)
    subject = c.title()
    if kind == "email":
        pairs = [
            ("From:", f"{sender} <{txt.email_address(rng, sender)}>"),
            (
                "Sent:",
                f"{txt.date(rng, 0)} {rng.randint(1, 12)}:{rng.randint(0, 59):02d} {rng.choice(['AM', 'PM'])}",
            ),
            ("To:", f"{to}; {txt.person(rng)}"),
        ]
        if rng.random() < 0.5:
            pairs.append(("Cc:", txt.person(rng)))
        pairs.append(("Subject:", subject))
    else:
        keys = rng.choice(
            [
                ("TO:", "FROM:", "DATE:", "SUBJECT:"),
                ("To:", "From:", "Date:", "Re:"),
                ("TO:", "FROM:", "DATE:", "RE:"),
            ]
        )
        pairs = list(zip(keys, [to, sender, txt.date(rng), subject], strict=True))
        if rng.random() < 0.4:
            pairs.insert(
                2, ("CC:" if keys[0].isupper() else "cc:", f"{txt.person(rng)}, {txt.person(rng)}")
            )
    return fields(c, c.left, y, pairs, bold_labels=kind != "email" and rng.random() < 0.7)


def generic_table(c: Canvas, y: int, rows: int, max_y: int | None = None) -> int:
    """A small table of figures with neutral column heads (reports, letters, budgets)."""
    rng = c.rng
    cols = rng.sample(TABLE_HEADS, rng.randint(2, 4))
    body = [
        [
            c.phrase(rng.randint(1, 3)).title(),
            *(
                txt.amount(rng, 10, 99999, rng.random() < 0.3)
                if rng.random() < 0.6
                else txt.number(rng)
                for _ in cols
            ),
        ]
        for _ in range(rows)
    ]
    widths = split_widths(c, body_width(c), [4] + [2] * len(cols))
    return table(
        c,
        c.left,
        y,
        widths,
        [["", *cols], *body],
        c.font(c.size - 1),
        rng.random() < 0.4,
        True,
        max_y,
    )


# Neutral column heads shared by tables of several classes.
TABLE_HEADS = [
    "Amount",
    "Total",
    "Number",
    "Date",
    "Rate",
    "Cost",
    "Percent",
    "1994",
    "1995",
    "1996",
    "Current",
    "Previous",
    "Change",
    "Units",
    "Average",
    "No.",
    "Value",
]


def boxed_fields(c: Canvas, y: int, rows: int, values: Sequence[str] = ()) -> int:
    """A grid of boxes with small captions and (sometimes) filled values; returns y below."""
    rng = c.rng
    small, h = c.font(max(9, c.size - 5)), rng.randint(38, 55)
    for _ in range(rows):
        cuts = sorted(rng.sample(range(c.left + 80, c.right - 80, 20), rng.randint(1, 3)))
        xs = [c.left, *cuts, c.right]
        for x0, x1 in zip(xs, xs[1:], strict=False):
            c.rect((x0, y, x1, y + h))
            c.text(x0 + 4, y + 3, c.phrase(rng.randint(1, 3), 0.6).upper(), small)
            if rng.random() < 0.6:
                value = (
                    rng.choice(values)
                    if values and rng.random() < 0.5
                    else c.phrase(rng.randint(1, 3))
                )
                if rng.random() < 0.3:
                    c.hand(x0 + 8, y + h - c.size - 10, value, c.size + 2, x1 - 5)
                else:
                    c.text(x0 + 8, y + h - c.size - 8, value)
        y += h
    return y + 10


def signature_lines(c: Canvas, y: int, captions: Sequence[str]) -> int:
    """Signature/date lines with captions; returns y below."""
    small = c.font(max(9, c.size - 3))
    x, w = c.left, body_width(c) // len(captions) - 20
    for caption in captions:
        if y + 60 > c.height - 20:
            break
        if c.rng.random() < 0.5:
            c.scribble((x + 10, y, x + w * 0.6, y + 30))
        c.rule(x, y + 35, x + w)
        c.text(x, y + 40, caption, small)
        x += w + 20
    return y + 70


def columns(
    c: Canvas,
    y: int,
    n: int,
    font: ImageFont.FreeTypeFont,
    max_y: int | None = None,
    pictures: float = 0.0,
    headings: bool = False,
) -> None:
    """Fill `n` text columns from y to the bottom, with optional figures and headings."""
    rng = c.rng
    gap = rng.randint(15, 30)
    width = (body_width(c) - gap * (n - 1)) // n
    max_y = c.bottom if max_y is None else max_y
    for i in range(n):
        x, yy = c.left + i * (width + gap), y
        while yy < max_y - c.line_height(font) * 2:
            if rng.random() < pictures:
                h = rng.randint(80, 200)
                if yy + h < max_y:
                    c.picture((x, yy, x + width, yy + h))
                    yy = (
                        c.wrap(
                            x,
                            yy + h + 5,
                            width,
                            f"Fig. {rng.randint(1, 9)} {c.phrase(rng.randint(4, 10))}".split(),
                            c.font(font.size - 2),
                            max_y,
                        )
                        + 8
                    )
            if headings and rng.random() < 0.3:
                c.text(
                    x,
                    yy,
                    rng.choice(
                        [
                            "INTRODUCTION",
                            "METHODS",
                            "RESULTS",
                            "DISCUSSION",
                            "Materials and Methods",
                            "Conclusion",
                        ]
                    )
                    if rng.random() < 0.6
                    else c.phrase(2, 0.5).title(),
                    c.font(font.size, bold=True),
                )
                yy += c.line_height(font) + 4
            tokens = c.body(rng.randint(2, 6))
            yy = c.wrap(x, yy, width, tokens, font, max_y) + font.size // 2


def fax_line(c: Canvas) -> None:
    """The transmission line a fax machine prints across the top of every page it sends."""
    rng = c.rng
    month = txt.MONTHS[rng.randint(0, 11)][:3].upper()
    parts = [
        f"{month} {rng.randint(1, 28)} '{rng.randint(80, 99)}",
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
        "FROM",
        rng.choice([txt.company(rng).upper(), txt.phone(rng), txt.person(rng, False).upper()]),
        "TO",
        f"{rng.randint(100, 999)}{rng.randint(1000000, 9999999)}",
        f"P.{rng.randint(1, 12):02d}" if rng.random() < 0.5 else f"PAGE.{rng.randint(1, 12):03d}",
    ]
    font = load_font("mono", rng.randint(10, 13), rng.random() < 0.3)
    c.text(rng.randint(10, c.left + 40), rng.randint(4, max(5, c.top - 22)), " ".join(parts), font)
