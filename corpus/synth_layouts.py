"""Per-class page templates for the synthetic corpus.

A template is a function `template(canvas) -> None` that draws one page on a `Canvas`
(`synth_canvas`), which records every word it draws with its pixel box. `TEMPLATES[label]` lists
the templates of each RVL-CDIP class. Confusable classes share building blocks (correspondence
headers, tables, check boxes, technical body text) so that only subtle cues tell them apart.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from PIL import Image, ImageChops, ImageDraw, ImageFont

from docexit.corpus import synth_text as txt
from docexit.corpus.synth_canvas import FAMILIES, Canvas, load_font

Template = Callable[[Canvas], None]


# ---- shared building blocks ---------------------------------------------------------------
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


# ---- correspondence: letter, memo, email -------------------------------------------------
def letter_formal(c: Canvas) -> None:
    """Letterhead, date, inside address, salutation, body, closing and signature."""
    rng = c.rng
    y = letterhead(c)
    c.text(c.right - 200 if rng.random() < 0.5 else c.left, y, txt.date(rng, 0))
    y += 2 * c.line_height(c.font())
    for line in [txt.person(rng), txt.company(rng), *txt.address(rng)]:
        c.text(c.left, y, line)
        y += c.line_height(c.font())
    y += c.line_height(c.font())
    c.text(c.left, y, f"Dear {rng.choice(['Mr.', 'Ms.', 'Dr.'])} {rng.choice(txt.LAST_NAMES)}:")
    y = c.paragraphs(
        c.left,
        y + 2 * c.line_height(c.font()),
        body_width(c),
        rng.randint(2, 4),
        max_y=c.bottom - 140,
    )
    c.text(
        c.left + body_width(c) // 2 * (rng.random() < 0.5),
        y,
        rng.choice(["Sincerely,", "Very truly yours,", "Best regards,", "Cordially,"]),
    )
    signature(c, c.left + body_width(c) // 2 * (rng.random() < 0.5), y + 10)


def letter_typed(c: Canvas) -> None:
    """A typewritten letter without letterhead (monospace), with an enclosure line."""
    rng = c.rng
    c.family = "mono"
    y = c.top + rng.randint(60, 160)
    for line in [*txt.address(rng), txt.date(rng, 0)]:
        c.text(c.width // 2, y, line)
        y += c.line_height(c.font())
    y += c.line_height(c.font())
    for line in [txt.person(rng), *txt.address(rng)]:
        c.text(c.left, y, line)
        y += c.line_height(c.font())
    c.text(c.left, y + 15, f"Dear {rng.choice(txt.FIRST_NAMES)},")
    y = c.paragraphs(
        c.left,
        y + 15 + 2 * c.line_height(c.font()),
        body_width(c),
        rng.randint(2, 4),
        max_y=c.bottom - 130,
    )
    c.text(c.width // 2, y, rng.choice(["Yours truly,", "Sincerely yours,", "Regards,"]))
    y = signature(c, c.width // 2, y + 8)
    if rng.random() < 0.6:
        c.text(
            c.left,
            y + 15,
            rng.choice(["Enclosure", "cc:", "Enclosures (2)", "bcc:"]) + " " + txt.person(rng),
        )


def letter_short(c: Canvas) -> None:
    """A short note-like letter on letterhead with lots of white space."""
    rng = c.rng
    y = letterhead(c, centered=True) + 40
    c.text(c.left, y, txt.date(rng, 0))
    y += 3 * c.line_height(c.font())
    c.text(c.left, y, f"Dear {txt.person(rng, initial=False)}:")
    y = c.paragraphs(
        c.left, y + 2 * c.line_height(c.font()), body_width(c), rng.randint(1, 2), sentences=(1, 3)
    )
    c.text(c.left, y + 10, rng.choice(["Thank you,", "Sincerely,"]))
    signature(c, c.left, y + 20)


# Memo titles: some pages say MEMORANDUM, some something else, a third nothing at all.
MEMO_HEADINGS = (
    "MEMORANDUM",
    "Memorandum",
    "M E M O R A N D U M",
    "MEMO",
    "INTEROFFICE",
    "Interoffice Communication",
    "NOTE TO FILE",
    "MESSAGE",
    "",
    "",
    "",
    "",
)


def memo_classic(c: Canvas) -> None:
    """`MEMORANDUM` title, TO/FROM/DATE/SUBJECT block, rule and body."""
    rng = c.rng
    y = c.top
    if rng.random() < 0.5:
        c.text_center(c.width / 2, y, txt.company(rng).upper(), c.font(c.size + 2, bold=True))
        y += 35
    title_font = c.font(rng.randint(20, 30), bold=rng.random() < 0.7)
    heading = rng.choice(MEMO_HEADINGS)
    if heading:
        (c.text_center if rng.random() < 0.5 else lambda x, yy, t, f: c.text(c.left, yy, t, f))(
            c.width / 2, y, heading, title_font
        )
    y = correspondence_header(c, "memo", y + title_font.size + 30)
    c.rule(c.left, y, c.right, width=rng.randint(1, 3))
    y = c.paragraphs(c.left, y + 25, body_width(c), rng.randint(2, 5))
    if rng.random() < 0.5 and y < c.bottom - 40:
        c.text(
            c.left + body_width(c) // 2,
            y + 10,
            "".join(rng.choice("ABCDEFGHJKLMNPRSTW") for _ in range(3))
            + ":"
            + "".join(rng.choice("abcdefghjklmnprstw") for _ in range(2)),
        )


def memo_interoffice(c: Canvas) -> None:
    """`INTER-OFFICE CORRESPONDENCE` banner, two-column header fields and body."""
    rng = c.rng
    y = c.top
    c.text(c.left, y, txt.company(rng).upper(), c.font(c.size + 3, bold=True))
    y += c.line_height(c.font(c.size + 3)) + 4
    c.text_right(
        c.right,
        y,
        rng.choice(
            [
                "INTER-OFFICE CORRESPONDENCE",
                "INTERNAL CORRESPONDENCE",
                "OFFICE MEMORANDUM",
                "Interoffice",
                "PERSONAL AND CONFIDENTIAL",
                "",
            ]
        ),
        c.font(c.size - 1, bold=True),
    )
    y += 40
    half = c.left + body_width(c) // 2
    c.text(c.left, y, f"To: {txt.person(rng)}")
    c.text(half, y, f"Date: {txt.date(rng, 0)}")
    y += c.line_height(c.font()) + 8
    c.text(c.left, y, f"From: {txt.person(rng)}")
    c.text(half, y, f"Dept: {c.title(2)}")
    y += c.line_height(c.font()) + 8
    c.text(c.left, y, f"Subject: {c.title()}")
    y += c.line_height(c.font()) + 6
    c.rule(c.left, y, c.right, width=2)
    y = c.paragraphs(c.left, y + 25, body_width(c), rng.randint(2, 4), max_y=c.bottom - 100)
    if rng.random() < 0.7:
        y = fields(
            c,
            c.left,
            y + 10,
            [("cc:", txt.person(rng))] + [("", txt.person(rng)) for _ in range(rng.randint(1, 4))],
            gap=50,
        )


def memo_plain(c: Canvas) -> None:
    """Fields without a title (a subtle memo), a numbered list and an attachment note."""
    rng = c.rng
    y = correspondence_header(c, "memo", c.top + rng.randint(30, 120))
    y = c.paragraphs(c.left, y + 30, body_width(c), rng.randint(1, 2))
    y = bullet_list(c, c.left + 20, y, body_width(c) - 20, rng.randint(2, 6), c.font(), "1.")
    if y < c.bottom - 60:
        c.text(
            c.left,
            y + 20,
            rng.choice(["Attachment", "Attachments", "Distribution:", "cc:"])
            + " "
            + txt.person(rng),
        )


def email_outlook(c: Canvas) -> None:
    """From/Sent/To/Subject headers, body and sign-off (sans or mono)."""
    rng = c.rng
    c.family = rng.choice(["sans", "mono", "sans", "times"])
    y = c.top
    if rng.random() < 0.6:
        c.text(c.left, y, txt.person(rng), c.font(c.size + 4, bold=True))
        y += 30
        c.rule(c.left, y, c.right, width=2)
        y += 15
    y = correspondence_header(c, "email", y)
    y = c.paragraphs(c.left, y + 25, body_width(c), rng.randint(1, 4))
    c.text(c.left, y, rng.choice(["Thanks,", "Regards,", "--", "Thank you"]))
    c.text(c.left, y + c.line_height(c.font()), rng.choice(txt.FIRST_NAMES))


def email_thread(c: Canvas) -> None:
    """A reply with a quoted `Original Message` below it."""
    rng = c.rng
    c.family = rng.choice(["mono", "sans"])
    y = correspondence_header(c, "email", c.top)
    y = c.paragraphs(c.left, y + 20, body_width(c), rng.randint(1, 2), sentences=(1, 3))
    c.text(c.left, y + 10, "-----Original Message-----")
    y = correspondence_header(c, "email", y + 20 + c.line_height(c.font()))
    c.paragraphs(c.left, y + 15, body_width(c), rng.randint(1, 3))


def email_record(c: Canvas) -> None:
    """An archived mail record: many metadata fields, short body, attachments list."""
    rng = c.rng
    c.family = "times"
    sender = txt.person(rng)
    pairs = [
        ("From:", sender),
        ("To:", "; ".join(txt.person(rng) for _ in range(rng.randint(1, 3)))),
        ("CC:", txt.person(rng)),
        ("BCC:", ""),
        (
            "Primary Date:",
            f"{txt.date(rng, 1)} {rng.randint(1, 12)}:{rng.randint(0, 59):02d}:00 PM",
        ),
        ("Last Modified Date:", txt.date(rng, 1)),
        ("Received Date:", txt.date(rng, 1)),
        ("Subject:", c.title()),
    ]
    y = fields(c, c.left, c.top, pairs, c.font(c.size - 1), bold_labels=True)
    y = c.paragraphs(c.left, y + 20, body_width(c), rng.randint(1, 3))
    c.text(c.left, y + 10, "Attachments:", c.font(bold=True))


def fax_cover(c: Canvas) -> None:
    """A fax transmittal sheet; shared by letter, memo and form (only the words differ)."""
    rng = c.rng
    y = letterhead(c) if rng.random() < 0.5 else c.top
    heading = rng.choice(["FAX TRANSMITTAL", "FACSIMILE COVER SHEET", "TELECOPY", "FAX"])
    c.text(c.left, y, heading, c.font(rng.randint(22, 32), bold=True))
    y += 55
    pairs = [
        ("To:", txt.person(rng)),
        ("Fax No.:", txt.phone(rng)),
        ("From:", txt.person(rng)),
        ("Date:", txt.date(rng)),
        ("Pages:", f"{rng.randint(1, 12)} (including cover)"),
        ("Re:", c.title()),
    ]
    y = fields(c, c.left, y, pairs[: rng.randint(4, 6)])
    c.rule(c.left, y, c.right, width=2)
    y = c.paragraphs(c.left, y + 20, body_width(c), rng.randint(1, 3), sentences=(1, 4))
    c.text(
        c.left,
        min(y + 20, c.bottom - 20),
        "If you do not receive all pages, please call " + txt.phone(rng),
        c.font(c.size - 2),
    )


def continuation(c: Canvas) -> None:
    """A second or later page of a letter, memo or report: running header, text, white space."""
    rng = c.rng
    y, step, page = c.top, c.line_height(c.font()), rng.randint(2, 6)
    style = rng.random()
    if style < 0.4:
        for line in (txt.person(rng), f"Page {page}", txt.date(rng, 0)):
            c.text(c.left, y, line)
            y += step
    elif style < 0.7:
        c.text_center(c.width / 2, y, f"- {page} -")
    else:
        c.text_right(c.right, y, f"Page {page}", c.font(c.size - 2))
    y = c.paragraphs(c.left, y + 2 * step, body_width(c), rng.randint(1, 3), max_y=c.bottom - 150)
    if c.label == "letter" and rng.random() < 0.7:
        c.text(c.left, y + 10, rng.choice(["Sincerely,", "Very truly yours,", "Regards,"]))
        signature(c, c.left, y + 20)
    elif c.label == "memo" and rng.random() < 0.6:
        fields(c, c.left, y + 20, [("cc:", txt.person(rng)), ("", txt.person(rng))], gap=50)
    elif c.label == "scientific_report" and rng.random() < 0.4 and y < c.bottom - 300:
        c.picture((c.left + 60, y + 10, c.right - 60, y + rng.randint(150, 280)), dither=True)


def transmittal(c: Canvas) -> None:
    """A short cover letter with a small table of figures (sent with invoices and budgets)."""
    rng = c.rng
    y = letterhead(c)
    c.text(c.left, y, txt.date(rng, 0))
    y += 2 * c.line_height(c.font())
    for line in [txt.person(rng), txt.company(rng), *txt.address(rng)][: rng.randint(1, 5)]:
        c.text(c.left, y, line)
        y += c.line_height(c.font())
    c.text(
        c.left, y + 10, f"Dear {rng.choice(['Mr.', 'Ms.', 'Dr.'])} {rng.choice(txt.LAST_NAMES)}:"
    )
    y = c.paragraphs(
        c.left, y + 10 + 2 * c.line_height(c.font()), body_width(c), 1, sentences=(1, 3)
    )
    y = generic_table(c, y + 10, rng.randint(3, 8), max_y=c.bottom - 120)
    y = c.paragraphs(c.left, y + 10, body_width(c), 1, sentences=(1, 2), max_y=c.bottom - 100)
    c.text(c.left, y + 10, rng.choice(["Sincerely,", "Very truly yours,", "Regards,"]))
    signature(c, c.left, y + 20)


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


# ---- tables: invoice, budget --------------------------------------------------------------
def invoice_items(c: Canvas) -> None:
    """Company header, INVOICE title, bill-to block, item table and totals."""
    rng = c.rng
    y = letterhead(c, centered=False)
    c.text_right(c.right, c.top, rng.choice(["INVOICE", "Invoice", "BILL"]), c.font(28, bold=True))
    y = fields(
        c,
        c.left,
        y,
        [
            ("Invoice No.", str(rng.randint(10000, 999999))),
            ("Date:", txt.date(rng)),
            ("Customer No.", str(rng.randint(1000, 99999))),
            ("Terms:", rng.choice(["Net 30", "Net 10", "2% 10 Net 30", "Due on receipt"])),
        ],
    )
    c.text(c.left, y + 5, "Bill To:", c.font(bold=True))
    y += 5 + c.line_height(c.font())
    for line in [txt.company(rng), *txt.address(rng)]:
        c.text(c.left + 20, y, line)
        y += c.line_height(c.font())
    rows = [["Qty", "Description", "Unit Price", "Amount"]]
    rows += [
        [
            str(rng.randint(1, 500)),
            c.phrase(rng.randint(2, 5), 0.3),
            txt.amount(rng, 1, 900),
            txt.amount(rng, 10, 9000),
        ]
        for _ in range(rng.randint(3, 12))
    ]
    y = table(
        c,
        c.left,
        y + 25,
        split_widths(c, body_width(c), [1, 5, 2, 2]),
        rows,
        c.font(c.size - 1),
        grid=rng.random() < 0.5,
    )
    for key in rng.sample(["Subtotal", "Tax", "Freight", "TOTAL DUE", "Balance"], 3):
        c.text_right(c.right - 150, y, key, c.font(bold=True))
        c.text_right(c.right - 5, y, txt.amount(rng, 100, 50000))
        y += c.line_height(c.font())


def invoice_statement(c: Canvas) -> None:
    """A gridded statement of account with remittance stub."""
    rng = c.rng
    c.family = rng.choice(["mono", "sans"])
    y = c.top
    c.text(c.left, y, txt.company(rng).upper(), c.font(c.size + 4, bold=True))
    y += 40
    c.text(
        c.left,
        y,
        rng.choice(["STATEMENT", "STATEMENT OF ACCOUNT", "INVOICE"]),
        c.font(c.size + 2, bold=True),
    )
    c.text_right(c.right, y, f"No. {rng.randint(10000, 99999)}")
    y += 40
    rows = [["Date", "Reference", "Charges", "Credits", "Balance"]]
    rows += [
        [
            txt.date(rng, 1),
            f"INV {rng.randint(1000, 9999)}",
            txt.amount(rng, 10, 5000, False),
            "" if rng.random() < 0.6 else txt.amount(rng, 10, 5000, False),
            txt.amount(rng, 10, 20000, False),
        ]
        for _ in range(rng.randint(4, 16))
    ]
    y = table(c, c.left, y, split_widths(c, body_width(c), [2, 2, 2, 2, 2]), rows, grid=True)
    c.rule(c.left, y + 10, c.right)
    c.text(
        c.left,
        y + 20,
        "Please detach and return this portion with your payment",
        c.font(c.size - 2),
    )
    fields(
        c,
        c.left,
        y + 50,
        [
            ("Remit To:", txt.company(rng)),
            ("Amount Enclosed:", "$ ________"),
            ("Account:", str(rng.randint(10**5, 10**7))),
        ],
    )


def invoice_receipt(c: Canvas) -> None:
    """A purchase-order style bill: sold-to/ship-to boxes, order table, payment terms."""
    rng = c.rng
    c.family = rng.choice(["mono", "sans", "serif"])
    y = c.top
    c.text(c.left, y, txt.company(rng), c.font(c.size + 4, bold=True))
    c.text_right(c.right, y, f"No. {rng.randint(10000, 999999)}", c.font(bold=True))
    y += 45
    half = c.left + body_width(c) // 2
    for x0, caption in ((c.left, "SOLD TO"), (half + 10, "SHIP TO")):
        c.rect((x0, y, x0 + body_width(c) // 2 - 10, y + 110))
        c.text(x0 + 6, y + 4, caption, c.font(c.size - 3, bold=True))
        yy = y + 28
        for line in [txt.company(rng), *txt.address(rng)]:
            c.text(x0 + 10, yy, line, c.font(c.size - 2))
            yy += c.line_height(c.font(c.size - 2))
    y = boxed_fields(
        c,
        y + 125,
        1,
        [txt.date(rng), rng.choice(["Net 30", "C.O.D.", "Prepaid"]), str(rng.randint(1000, 99999))],
    )
    rows = [["Item No.", "Description", "Qty", "Price", "Extension"]]
    rows += [
        [
            str(rng.randint(100, 99999)),
            c.phrase(rng.randint(1, 4), 0.3),
            str(rng.randint(1, 99)),
            txt.amount(rng, 1, 500, False),
            txt.amount(rng, 10, 9000, False),
        ]
        for _ in range(rng.randint(3, 10))
    ]
    y = table(
        c,
        c.left,
        y + 10,
        split_widths(c, body_width(c), [2, 5, 1, 2, 2]),
        rows,
        c.font(c.size - 2),
        grid=True,
    )
    c.text_right(c.right - 5, y + 5, f"TOTAL {txt.amount(rng, 100, 99999)}", c.font(bold=True))
    c.text(
        c.left,
        y + 40,
        "Please pay from this invoice. " + c.phrase(rng.randint(3, 8)),
        c.font(c.size - 3),
    )


def budget_sheet(c: Canvas) -> None:
    """A spreadsheet: line items by year or quarter with subtotals."""
    rng = c.rng
    y = c.top
    c.text_center(c.width / 2, y, c.title().upper(), c.font(c.size + 2, bold=True))
    y += 30
    c.text_center(
        c.width / 2,
        y,
        rng.choice(["FISCAL YEAR", "BUDGET", "FORECAST", "PLAN"]) + f" {rng.randint(1970, 2001)}",
        c.font(),
    )
    y += 40
    cols = rng.choice(
        [
            ["1994", "1995", "1996"],
            ["Q1", "Q2", "Q3", "Q4"],
            ["Budget", "Actual", "Variance"],
            ["Plan", "Forecast"],
        ]
    )
    rows = [["", *cols]]
    for i in range(rng.randint(8, 24)):
        name = "Subtotal" if i % 6 == 5 else c.phrase(rng.randint(1, 3)).title()
        rows.append([name, *(txt.amount(rng, 0, 9999, rng.random() < 0.2) for _ in cols)])
    y = table(
        c,
        c.left,
        y,
        split_widths(c, body_width(c), [4] + [2] * len(cols)),
        rows,
        c.font(c.size - 1),
        grid=rng.random() < 0.3,
    )
    c.text(c.left, y + 10, "TOTAL", c.font(bold=True))
    c.text_right(c.right - 5, y + 10, txt.amount(rng, 10000, 999999))


def budget_summary(c: Canvas) -> None:
    """A budget summary: categories with amounts and percentages, plus notes."""
    rng = c.rng
    y = letterhead(c) if rng.random() < 0.4 else c.top
    c.text(c.left, y, c.title(), c.font(c.size + 3, bold=True))
    y += 40
    rows = [["Category", "Amount", "% of Total"]]
    rows += [
        [
            c.phrase(rng.randint(1, 3), 0.5).title(),
            txt.amount(rng, 100, 500000),
            f"{rng.uniform(0, 40):.1f}%",
        ]
        for _ in range(rng.randint(5, 12))
    ]
    y = table(c, c.left, y, split_widths(c, body_width(c), [5, 3, 2]), rows)
    c.text(c.left, y + 10, "Notes:", c.font(bold=True))
    bullet_list(
        c,
        c.left + 10,
        y + 15 + c.line_height(c.font()),
        body_width(c) - 10,
        rng.randint(2, 5),
        c.font(c.size - 1),
        "1.",
    )


def budget_request(c: Canvas) -> None:
    """A budget request form: header fields in boxes then a cost table."""
    rng = c.rng
    y = c.top
    c.text(
        c.left,
        y,
        rng.choice(["BUDGET REQUEST", "PROJECT BUDGET", "EXPENSE AUTHORIZATION", "COST ESTIMATE"]),
        c.font(c.size + 5, bold=True),
    )
    y = boxed_fields(
        c, y + 45, rng.randint(2, 3), [txt.person(rng), txt.date(rng), str(rng.randint(100, 9999))]
    )
    rows = [["Item", "Units", "Cost", "Total"]]
    rows += [
        [
            c.phrase(rng.randint(1, 4)),
            str(rng.randint(1, 99)),
            txt.amount(rng, 10, 999),
            txt.amount(rng, 100, 99999),
        ]
        for _ in range(rng.randint(5, 14))
    ]
    y = table(
        c,
        c.left,
        y + 15,
        split_widths(c, body_width(c), [5, 1, 2, 2]),
        rows,
        c.font(c.size - 1),
        grid=True,
    )
    signature_lines(c, y + 30, ["Requested by", "Approved by"])


# ---- boxes and lines: form, questionnaire -------------------------------------------------
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


def form_boxes(c: Canvas) -> None:
    """A government-style form: title, boxed fields, instructions and signature lines."""
    rng = c.rng
    y = c.top
    c.text(c.left, y, f"Form {rng.randint(10, 999)}-{rng.choice('ABCDE')}", c.font(c.size - 2))
    c.text_center(c.width / 2, y + 20, c.title().upper(), c.font(c.size + 4, bold=True))
    y = boxed_fields(c, y + 60, rng.randint(4, 9))
    y = c.paragraphs(
        c.left, y + 10, body_width(c), 1, c.font(c.size - 2), max_y=c.bottom - 90, sentences=(2, 4)
    )
    signature_lines(c, y + 10, ["Signature", "Date"])


def form_lines(c: Canvas) -> None:
    """Fill-in-the-blank lines (`Name ______`), some filled by hand."""
    rng = c.rng
    y = letterhead(c) if rng.random() < 0.4 else c.top
    c.text_center(c.width / 2, y, c.title().upper(), c.font(c.size + 3, bold=True))
    y += 50
    captions = [
        "Name",
        "Address",
        "City",
        "State",
        "Telephone",
        "Date",
        "Department",
        "Employee No.",
        "Social Security No.",
        "Position",
        "Supervisor",
        "Account",
    ]
    while y < c.bottom - 120:
        caption = (
            rng.choice(captions) if rng.random() < 0.6 else c.phrase(rng.randint(1, 3), 0.6).title()
        )
        x = c.text(c.left, y, caption + ":")
        c.rule(x + 5, y + c.size + 3, c.right)
        if rng.random() < 0.55:
            c.hand(x + 15, y - c.size // 2, c.phrase(rng.randint(1, 4)), c.size + 3, c.right)
        y += int(c.size * rng.uniform(2.2, 3.0))
    signature_lines(c, y, ["Signature of applicant", "Date"])


def form_checklist(c: Canvas) -> None:
    """An approval/request form: checkbox options, fields and an office-use box."""
    rng = c.rng
    y = c.top
    c.text(c.left, y, c.title().upper(), c.font(c.size + 3, bold=True))
    y = boxed_fields(c, y + 40, rng.randint(2, 3))
    for _ in range(rng.randint(3, 8)):
        x = c.left
        for _ in range(rng.randint(1, 3)):
            c.checkbox(x, y + 2, c.size - 2, rng.random() < 0.3)
            x = c.text(x + c.size + 6, y, c.phrase(rng.randint(1, 3), 0.5)) + 25
            if x > c.right - 150:
                break
        y += int(c.size * 2)
    y = c.paragraphs(c.left, y + 10, body_width(c), 1, c.font(c.size - 2), sentences=(1, 3))
    c.rect((c.left, y + 10, c.right, y + 90))
    c.text(c.left + 6, y + 14, "FOR OFFICE USE ONLY", c.font(c.size - 3, bold=True))


def questionnaire_items(c: Canvas) -> None:
    """Numbered questions, each with check-box or numbered answer options."""
    rng = c.rng
    y = c.top
    if rng.random() < 0.6:
        c.text_center(
            c.width / 2,
            y,
            rng.choice(["QUESTIONNAIRE", "SURVEY", "Consumer Survey", "INTERVIEW SCHEDULE"]),
            c.font(c.size + 4, bold=True),
        )
        y += 45
    q = rng.randint(1, 30)
    while y < c.bottom - 60:
        y = c.wrap(
            c.left,
            y,
            body_width(c),
            f"{q}. {c.phrase(rng.randint(5, 14))}?".split(),
            max_y=c.bottom,
        )
        options = rng.choice(
            [
                ["Yes", "No"],
                ["Yes", "No", "Don't know"],
                ["Very", "Somewhat", "Not at all"],
                ["Daily", "Weekly", "Monthly", "Never"],
                [str(i) for i in range(1, 6)],
            ]
        )
        vertical = rng.random() < 0.4
        x = c.left + 30
        for opt in options:
            c.checkbox(x, y + 3, c.size - 3, rng.random() < 0.2)
            end = c.text(x + c.size + 4, y, opt)
            if vertical:
                y += c.line_height(c.font())
            else:
                x = end + 25
        y += c.line_height(c.font()) * (1 if vertical else 2)
        q += 1


def questionnaire_scale(c: Canvas) -> None:
    """A rating grid: statements down the side, agreement scale across the top."""
    rng = c.rng
    y = c.top
    c.text(c.left, y, c.title(), c.font(c.size + 3, bold=True))
    y = c.paragraphs(c.left, y + 40, body_width(c), 1, c.font(c.size - 1), sentences=(1, 3))
    scale = rng.choice(
        [
            ["Strongly agree", "Agree", "Neutral", "Disagree", "Strongly disagree"],
            ["1", "2", "3", "4", "5", "6", "7"],
            ["Always", "Often", "Sometimes", "Rarely", "Never"],
        ]
    )
    small = c.font(max(9, c.size - 5))
    stmt_w = int(body_width(c) * 0.45)
    col = (body_width(c) - stmt_w) // len(scale)
    for i, s in enumerate(scale):
        c.wrap(c.left + stmt_w + i * col, y, col - 4, s.split(), small)
    y += 40
    n = 1
    while y < c.bottom - 40:
        c.text(c.left, y, f"{n}.")
        y_end = c.wrap(c.left + 30, y, stmt_w - 40, c.phrase(rng.randint(3, 10)).split())
        for i in range(len(scale)):
            cx = c.left + stmt_w + i * col + col // 2
            c.draw.ellipse((cx - 6, y + 2, cx + 6, y + 14), outline=c.ink)
            if rng.random() < 0.15:
                c.draw.ellipse((cx - 9, y - 1, cx + 9, y + 17), outline=c.ink, width=2)
        y = max(y_end, y + 25) + 8
        n += 1


def questionnaire_open(c: Canvas) -> None:
    """Open questions with answer lines and yes/no boxes, interviewer section at top."""
    rng = c.rng
    y = boxed_fields(c, c.top, 1)
    c.text(
        c.left,
        y,
        rng.choice(
            ["INTERVIEWER: READ ALL CHOICES", "PLEASE ANSWER ALL QUESTIONS", "(CIRCLE ONE ANSWER)"]
        ),
        c.font(c.size - 1, bold=True),
    )
    y += 40
    q = 1
    while y < c.bottom - 80:
        y = c.wrap(c.left, y, body_width(c), f"Q{q}. {c.phrase(rng.randint(6, 16))}?".split())
        if rng.random() < 0.5:
            for _ in range(rng.randint(1, 3)):
                c.rule(c.left + 30, y + 18, c.right)
                if rng.random() < 0.4:
                    c.hand(c.left + 35, y, c.phrase(rng.randint(2, 6)), c.size + 2)
                y += 30
        else:
            for j, opt in enumerate(["Yes", "No"]):
                c.checkbox(c.left + 40 + j * 100, y + 3, c.size - 3, rng.random() < 0.4)
                c.text(c.left + 40 + j * 100 + c.size + 4, y, opt)
            y += c.line_height(c.font())
        y += 20
        q += 1


# ---- technical: publication, report, specification ----------------------------------------
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
            tokens = txt.paragraph(rng, c.label, rng.randint(2, 6), c.share)
            yy = c.wrap(x, yy, width, tokens, font, max_y) + font.size // 2


def publication_two_column(c: Canvas) -> None:
    """Title, authors, abstract and a two-column body, as in a journal article."""
    rng = c.rng
    c.family = rng.choice(["times", "serif", "times"])
    y = c.top
    if rng.random() < 0.6:
        c.text(
            c.left,
            y - 10,
            f"{c.title(3)} {rng.randint(1960, 2001)} {rng.randint(1, 40)}:{rng.randint(1, 900)}",
            c.font(c.size - 4, italic=True),
        )
    y = c.wrap(
        c.left,
        y + 20,
        body_width(c),
        c.title(rng.randint(5, 12)).split(),
        c.font(c.size + 6, bold=True),
    )
    c.text(
        c.left,
        y + 5,
        ", ".join(txt.person(rng) for _ in range(rng.randint(1, 4))),
        c.font(c.size - 1, italic=True),
    )
    y += 35
    if rng.random() < 0.7:
        c.text(c.left, y, "Abstract", c.font(c.size - 1, bold=True))
        y = (
            c.wrap(
                c.left + 20,
                y + c.line_height(c.font()),
                body_width(c) - 40,
                txt.paragraph(rng, c.label, rng.randint(3, 6), c.share),
                c.font(c.size - 2),
            )
            + 15
        )
    size = max(10, c.size - rng.randint(2, 4))
    columns(c, y, 2, c.font(size), pictures=0.1, headings=True)


def publication_single(c: Canvas) -> None:
    """A single-column journal page: running head, page number, equations and references."""
    rng = c.rng
    c.family = rng.choice(["times", "serif"])
    y = c.top
    c.text(c.left, y, f"{rng.randint(1, 999)}", c.font(c.size - 2))
    c.text_center(c.width / 2, y, txt.person(rng).upper() + " ET AL.", c.font(c.size - 3))
    y += 40
    while y < c.bottom - 200:
        y = c.paragraphs(c.left, y, body_width(c), 1)
        if rng.random() < 0.3:
            c.text_center(
                c.width / 2,
                y,
                f"{rng.choice('xyzkC')} = {rng.uniform(0, 9):.2f} {rng.choice('+-')} {rng.uniform(0, 9):.3f} t ({rng.randint(1, 20)})",
                c.font(italic=True),
            )
            y += 35
    c.text(c.left, y, "REFERENCES", c.font(c.size - 1, bold=True))
    y += 25
    small = c.font(c.size - 3)
    for i in range(1, 8):
        ref = f"{i}. {rng.choice(txt.LAST_NAMES)} {rng.choice('ABCDEFGHJ')}., et al. {c.title(5)}. J. {c.title(2)} {rng.randint(1, 99)}: {rng.randint(1, 900)}, {rng.randint(1960, 2001)}."
        y = c.wrap(c.left, y, body_width(c), ref.split(), small)
        if y > c.bottom - 20:
            break


def publication_table(c: Canvas) -> None:
    """Two text columns above a full-width results table with a caption."""
    rng = c.rng
    c.family = rng.choice(["times", "serif", "sans"])
    size = max(10, c.size - 3)
    table_top = rng.randint(350, 600)
    columns(c, c.top, 2, c.font(size), max_y=table_top, headings=True)
    y = c.wrap(
        c.left,
        table_top + 5,
        body_width(c),
        f"TABLE {rng.randint(1, 9)}. {c.phrase(rng.randint(4, 10))}".split(),
        c.font(size, bold=True),
    )
    cols = rng.randint(3, 6)
    rows = [["Group", *(c.phrase(1, 0.6).title() for _ in range(cols - 1))]]
    rows += [
        [
            c.phrase(1).title(),
            *(f"{rng.uniform(0, 99):.{rng.randint(1, 2)}f}" for _ in range(cols - 1)),
        ]
        for _ in range(rng.randint(4, 10))
    ]
    table(
        c, c.left, y + 5, split_widths(c, body_width(c), [2] + [1] * (cols - 1)), rows, c.font(size)
    )


def report_cover(c: Canvas) -> None:
    """A report cover: centred title, prepared for/by, project number and date."""
    rng = c.rng
    y = rng.randint(150, 330)
    if rng.random() < 0.4:
        c.text_center(c.width / 2, c.top, txt.company(rng).upper(), c.font(c.size + 2, bold=True))
    y = c.wrap(
        c.left + 60,
        y,
        body_width(c) - 120,
        c.title(rng.randint(4, 10)).upper().split(),
        c.font(rng.randint(20, 30), bold=True),
    )
    c.text_center(
        c.width / 2,
        y + 20,
        rng.choice(
            [
                "FINAL REPORT",
                "PROGRESS REPORT",
                "Technical Report",
                "ANNUAL REPORT",
                "Interim Report",
            ]
        )
        + f" No. {rng.randint(1, 99)}",
        c.font(c.size + 2),
    )
    y += 120
    for caption in ["Prepared for", "Prepared by", "Submitted by", "Project No."]:
        if rng.random() < 0.6:
            c.text_center(c.width / 2, y, caption, c.font(italic=True))
            c.text_center(
                c.width / 2,
                y + c.line_height(c.font()),
                txt.person(rng) if "No." not in caption else str(rng.randint(1000, 9999)),
            )
            y += 3 * c.line_height(c.font())
    c.text_center(c.width / 2, c.bottom - 40, txt.date(rng, 0))


def report_body(c: Canvas) -> None:
    """A report page: numbered section headings, paragraphs, maybe a figure or list."""
    rng = c.rng
    y = c.top
    sec = rng.randint(1, 9)
    if rng.random() < 0.5:
        c.text_right(c.right, y, f"- {rng.randint(2, 120)} -", c.font(c.size - 2))
        y += 30
    sub = 1
    while y < c.bottom - 80:
        heading = (
            f"{sec}.{sub} {c.title(rng.randint(1, 4))}" if rng.random() < 0.7 else c.title().upper()
        )
        c.text(c.left, y, heading, c.font(bold=True))
        y = c.paragraphs(c.left, y + c.line_height(c.font()) + 5, body_width(c), rng.randint(1, 2))
        if rng.random() < 0.2:
            y = bullet_list(c, c.left + 20, y, body_width(c) - 20, rng.randint(2, 4), c.font())
        elif rng.random() < 0.2:
            y = generic_table(c, y + 5, rng.randint(3, 8))
        if rng.random() < 0.15 and y < c.bottom - 300:
            c.picture((c.left + 60, y, c.right - 60, y + rng.randint(120, 220)), dither=True)
            y += 240
        sub += 1


def report_contents(c: Canvas) -> None:
    """A table of contents or executive summary page."""
    rng = c.rng
    y = c.top + rng.randint(20, 80)
    heading = rng.choice(["TABLE OF CONTENTS", "CONTENTS", "EXECUTIVE SUMMARY", "SUMMARY"])
    c.text_center(c.width / 2, y, heading, c.font(c.size + 4, bold=True))
    y += 60
    if "SUMMARY" in heading:
        c.paragraphs(c.left, y, body_width(c), rng.randint(3, 6))
        return
    page, font = rng.randint(1, 5), c.font()
    for sec in range(1, rng.randint(8, 25)):
        text = f"{sec}. {c.title(rng.randint(1, 5))}"
        end = c.text(c.left + (30 if rng.random() < 0.3 else 0), y, text, font)
        dots = "." * max(0, int((c.right - 40 - end) / max(1, font.getlength("."))))
        c.draw.text((end, y), dots, font=font, fill=c.ink)
        page += rng.randint(1, 12)
        c.text_right(c.right, y, str(page), font)
        y += int(c.line_height(font) * 1.4)
        if y > c.bottom:
            break


def spec_header(c: Canvas) -> int:
    """Specification header block: number, revision, dates; returns y below."""
    rng = c.rng
    y = c.top
    c.text(
        c.left,
        y,
        rng.choice(
            ["SPECIFICATION", "PRODUCT SPECIFICATION", "MATERIAL SPECIFICATION", "Specification"]
        ),
        c.font(c.size + 5, bold=True),
    )
    c.text_right(
        c.right, y, f"Spec. No. {rng.choice('ABCMPT')}-{rng.randint(100, 9999)}", c.font(bold=True)
    )
    y += 45
    pairs = [
        ("Revision:", str(rng.randint(0, 12))),
        ("Effective Date:", txt.date(rng)),
        ("Supersedes:", txt.date(rng)),
        ("Page:", f"{rng.randint(1, 4)} of {rng.randint(4, 9)}"),
    ]
    if rng.random() < 0.5:
        return boxed_fields(c, y, 1, [p[1] for p in pairs])
    return fields(c, c.left, y, pairs[: rng.randint(2, 4)], c.font(c.size - 1))


def spec_table(c: Canvas) -> None:
    """A spec sheet: parameter / target / tolerance / test method table."""
    rng = c.rng
    y = spec_header(c)
    c.text(c.left, y + 10, c.title(), c.font(bold=True))
    rows = [["Characteristic", "Target", "Tolerance", "Method"]]
    units = ["mm", "g", "%", "mg", "cm", "in.", "lb", "psi"]
    rows += [
        [
            c.phrase(rng.randint(1, 3), 0.5).title(),
            f"{rng.uniform(0, 99):.1f} {rng.choice(units)}",
            f"+/- {rng.uniform(0, 5):.2f}",
            f"{rng.choice(['ASTM', 'TM', 'CORESTA', 'QA'])} {rng.randint(1, 999)}",
        ]
        for _ in range(rng.randint(6, 18))
    ]
    y = table(
        c,
        c.left,
        y + 45,
        split_widths(c, body_width(c), [4, 2, 2, 2]),
        rows,
        c.font(c.size - 1),
        grid=rng.random() < 0.6,
    )
    c.paragraphs(c.left, y + 10, body_width(c), 1, c.font(c.size - 2), sentences=(1, 3))


def spec_clauses(c: Canvas) -> None:
    """Numbered clauses: 1.0 Scope, 2.0 Requirements with sub-clauses."""
    rng = c.rng
    y = spec_header(c) + 10
    names = [
        "SCOPE",
        "APPLICABLE DOCUMENTS",
        "REQUIREMENTS",
        "MATERIALS",
        "DIMENSIONS",
        "PACKAGING",
        "TEST METHODS",
        "QUALITY ASSURANCE",
        "SAMPLING",
    ]
    for sec, name in enumerate(rng.sample(names, rng.randint(3, 6)), start=1):
        if y > c.bottom - 60:
            break
        c.text(c.left, y, f"{sec}.0 {name}", c.font(bold=True))
        y += c.line_height(c.font()) + 4
        for sub in range(1, rng.randint(2, 4)):
            c.text(c.left + 20, y, f"{sec}.{sub}")
            y = (
                c.wrap(
                    c.left + 60,
                    y,
                    body_width(c) - 60,
                    txt.sentence(rng, c.label, c.share) + txt.sentence(rng, c.label, c.share),
                    max_y=c.bottom,
                )
                + 4
            )


def spec_drawing(c: Canvas) -> None:
    """A part drawing with dimension lines and a title block."""
    rng = c.rng
    y = spec_header(c)
    x0, y0, x1, y1 = c.left + 60, y + 40, c.right - 60, y + rng.randint(250, 400)
    c.rect((x0, y0, x1, y1), width=2)
    c.draw.ellipse((x0 + 40, y0 + 40, x0 + 120, y0 + 120), outline=c.ink, width=2)
    c.rule(x0, y1 + 25, x1)
    c.text_center((x0 + x1) / 2, y1 + 30, f"{rng.uniform(10, 99):.1f} mm", c.font(c.size - 2))
    c.rule(x1 + 25, y0, x1 + 25, y1)
    rows = [["Item", "Material", "Qty", "Notes"]] + [
        [str(i), c.phrase(2, 0.5), str(rng.randint(1, 9)), c.phrase(rng.randint(1, 3))]
        for i in range(1, rng.randint(3, 7))
    ]
    table(
        c,
        c.left,
        y1 + 70,
        split_widths(c, body_width(c), [1, 3, 1, 4]),
        rows,
        c.font(c.size - 2),
        grid=True,
    )


# ---- news, presentation, advertisement ----------------------------------------------------
def news_columns(c: Canvas) -> None:
    """Masthead, big headline, byline and three to four narrow columns."""
    rng = c.rng
    c.family = rng.choice(["times", "serif"])
    y = c.top
    if rng.random() < 0.6:
        c.text_center(
            c.width / 2,
            y,
            f"The {rng.choice(txt.CITIES)} {rng.choice(['Times', 'Herald', 'Journal', 'Post', 'Gazette', 'Tribune'])}",
            c.font(rng.randint(28, 40), bold=True, family="times"),
        )
        y += 50
        c.text(c.left, y, txt.date(rng, 0), c.font(c.size - 3))
        c.rule(c.left, y + 18, c.right, width=2)
        y += 30
    y = c.wrap(
        c.left,
        y,
        body_width(c),
        c.title(rng.randint(4, 9)).split(),
        c.font(rng.randint(24, 36), bold=True),
    )
    c.text(c.left, y + 4, f"By {txt.person(rng)}", c.font(c.size - 2, italic=True))
    columns(c, y + 35, rng.randint(3, 4), c.font(max(10, c.size - 4)), pictures=0.06)


def news_clipping(c: Canvas) -> None:
    """A clipped article: smaller headline, photo, two columns, surrounded by white."""
    rng = c.rng
    c.family = rng.choice(["times", "serif", "sans"])
    c.left, c.right = c.left + rng.randint(0, 80), c.right - rng.randint(0, 80)
    c.bottom = rng.randint(600, c.bottom)
    y = c.wrap(
        c.left,
        c.top + rng.randint(0, 60),
        body_width(c),
        c.title(rng.randint(3, 8)).split(),
        c.font(rng.randint(20, 30), bold=True),
    )
    c.text(c.left, y, f"{rng.choice(txt.CITIES).upper()} (AP) -", c.font(c.size - 2, bold=True))
    if rng.random() < 0.6:
        c.picture(
            (c.left, y + 25, c.left + body_width(c) // 2 - 10, y + 25 + rng.randint(120, 220)),
            dither=True,
        )
    columns(c, y + 25, 2, c.font(max(10, c.size - 3)))


def news_release(c: Canvas) -> None:
    """A press release: FOR IMMEDIATE RELEASE, contact block, dateline and ###."""
    rng = c.rng
    y = letterhead(c) if rng.random() < 0.6 else c.top
    c.text(
        c.left,
        y,
        rng.choice(["FOR IMMEDIATE RELEASE", "NEWS RELEASE", "For Release:"]),
        c.font(bold=True),
    )
    c.text_right(c.right, y, f"Contact: {txt.person(rng)}", c.font(c.size - 2))
    c.text_right(c.right, y + 20, txt.phone(rng), c.font(c.size - 2))
    y += 60
    y = c.wrap(
        c.left,
        y,
        body_width(c),
        c.title(rng.randint(4, 9)).upper().split(),
        c.font(c.size + 2, bold=True),
    )
    c.text(c.left, y + 10, f"{rng.choice(txt.CITIES).upper()}, {txt.date(rng, 0)} --")
    y = c.paragraphs(c.left, y + 10 + c.line_height(c.font()), body_width(c), rng.randint(2, 5))
    c.text_center(c.width / 2, min(y + 10, c.height - 60), "# # #")


def slide_bullets(c: Canvas) -> None:
    """A slide: big title, framed area, large bulleted points."""
    rng = c.rng
    c.family = rng.choice(["sans", "sans", "serif"])
    frame = rng.random() < 0.6
    if frame:
        c.rect((c.left - 20, c.top, c.right + 20, c.bottom), width=rng.randint(1, 4))
    y = c.wrap(
        c.left + 10,
        c.top + 30,
        body_width(c) - 20,
        c.title(rng.randint(2, 6)).split(),
        c.font(rng.randint(28, 42), bold=True),
    )
    c.rule(c.left + 10, y + 5, c.right - 10, width=3)
    y += 40
    font = c.font(rng.randint(20, 28))
    for _ in range(rng.randint(3, 7)):
        if y > c.bottom - 60:
            break
        c.draw.rectangle(
            (c.left + 15, y + font.size // 3, c.left + 25, y + font.size // 3 + 10), fill=c.ink
        )
        y = (
            c.wrap(
                c.left + 40,
                y,
                body_width(c) - 50,
                c.phrase(rng.randint(2, 9)).split(),
                font,
                c.bottom - 30,
            )
            + font.size // 2
        )
    if rng.random() < 0.5:
        c.text(c.left, c.bottom + 10, txt.company(rng), c.font(c.size - 3))


def slide_chart(c: Canvas) -> None:
    """A slide with a title and a bar chart with labelled axes."""
    rng = c.rng
    c.family = "sans"
    y = (
        c.wrap(
            c.left,
            c.top + 20,
            body_width(c),
            c.title(rng.randint(2, 5)).split(),
            c.font(rng.randint(26, 38), bold=True),
        )
        + 30
    )
    x0, y0, x1, y1 = c.left + 60, y, c.right - 20, min(c.bottom - 80, y + rng.randint(350, 600))
    c.rule(x0, y0, x0, y1, width=2)
    c.rule(x0, y1, x1, width=2)
    n = rng.randint(3, 8)
    bw = (x1 - x0) // (n * 2)
    small = c.font(max(10, c.size - 3))
    for i in range(n):
        h = rng.uniform(0.1, 0.95) * (y1 - y0)
        bx = x0 + bw // 2 + i * 2 * bw
        c.draw.rectangle(
            (bx, y1 - h, bx + bw, y1), fill=rng.choice([c.ink, 90, 150, 200]), outline=c.ink
        )
        c.text(
            bx,
            y1 - h - 20,
            f"{rng.randint(1, 99)}%" if rng.random() < 0.5 else str(rng.randint(10, 999)),
            small,
        )
        c.text(
            bx, y1 + 5, str(rng.randint(1980, 2000)) if rng.random() < 0.6 else c.phrase(1), small
        )
    c.text(c.left, y1 + 40, c.phrase(rng.randint(3, 8)), c.font(c.size))


def slide_handout(c: Canvas) -> None:
    """Two or three small framed slides per page with note lines beside them."""
    rng = c.rng
    c.family = "sans"
    n = rng.randint(2, 3)
    h = (c.bottom - c.top) // n
    for i in range(n):
        y0 = c.top + i * h
        x1 = c.left + int(body_width(c) * 0.6)
        c.rect((c.left, y0 + 10, x1, y0 + h - 20), width=2)
        y = c.wrap(
            c.left + 12,
            y0 + 25,
            x1 - c.left - 24,
            c.title(rng.randint(2, 4)).split(),
            c.font(rng.randint(18, 24), bold=True),
        )
        bullet_list(
            c,
            c.left + 15,
            y + 10,
            x1 - c.left - 30,
            rng.randint(2, 4),
            c.font(rng.randint(12, 15)),
            "-",
            y0 + h - 30,
        )
        for k in range(4):
            c.rule(x1 + 25, y0 + 40 + k * 35, c.right)


def ad_headline(c: Canvas) -> None:
    """Large slogan, a big picture, brand name and a boxed warning."""
    rng = c.rng
    fam = rng.choice(FAMILIES)
    y = c.wrap(
        c.left,
        c.top + rng.randint(0, 40),
        body_width(c),
        (c.phrase(rng.randint(2, 6), 0.6).capitalize() + rng.choice(["!", ".", "?", ""])).split(),
        c.font(rng.randint(36, 60), bold=True, family=fam),
    )
    ph = rng.randint(250, 450)
    c.picture((c.left, y + 10, c.right, min(c.bottom - 150, y + 10 + ph)))
    y = min(c.bottom - 150, y + 10 + ph) + 20
    y = c.wrap(
        c.left,
        y,
        body_width(c) // 2,
        txt.paragraph(rng, c.label, 2, 0.5),
        c.font(c.size - 2, italic=True),
    )
    brand = rng.choice(txt.LAST_NAMES).upper()
    c.text_right(
        c.right,
        c.bottom - 110,
        brand,
        c.fit(brand, body_width(c) // 2, rng.randint(30, 48), bold=True, family=fam),
    )
    warning(c)


def warning(c: Canvas) -> None:
    """The boxed SURGEON GENERAL'S WARNING found on tobacco advertising."""
    rng = c.rng
    x0, y0 = c.left + rng.randint(0, 150), c.bottom - rng.randint(50, 70)
    font = load_font("sans", rng.randint(10, 13))
    y = c.wrap(
        x0 + 6,
        y0 + 4,
        c.right - x0 - 12,
        ("SURGEON GENERAL'S WARNING: " + c.phrase(rng.randint(8, 14), 0.4) + ".").split(),
        font,
        c.height - 5,
    )
    c.rect((x0, y0, c.right, y + 4), width=2)


def ad_coupon(c: Canvas) -> None:
    """A dashed-border coupon with offer, amount, expiry and fine print."""
    rng = c.rng
    x0, y0 = c.left, c.top + rng.randint(50, 250)
    x1, y1 = c.right, y0 + rng.randint(300, 500)
    for x in range(x0, x1, 16):
        c.rule(x, y0, x + 8)
        c.rule(x, y1, x + 8)
    for y in range(y0, y1, 16):
        c.rule(x0, y, x0, y + 8)
        c.rule(x1, y, x1, y + 8)
    offer = rng.choice(["SAVE", "FREE", "$1.00 OFF", "SPECIAL OFFER", "BUY ONE GET ONE"])
    c.text_center(
        c.width / 2, y0 + 25, offer, c.fit(offer, x1 - x0 - 40, rng.randint(40, 64), bold=True)
    )
    c.picture((x0 + 30, y0 + 110, x0 + (x1 - x0) // 2, y1 - 60))
    c.wrap(
        x0 + (x1 - x0) // 2 + 15,
        y0 + 110,
        (x1 - x0) // 2 - 45,
        txt.paragraph(rng, c.label, 2, 0.5),
        c.font(c.size),
    )
    c.text(x0 + 30, y1 - 45, f"Expires {txt.date(rng, 0)}", c.font(c.size - 2, bold=True))
    c.wrap(
        c.left,
        y1 + 30,
        body_width(c),
        txt.paragraph(rng, c.label, 3, 0.3),
        c.font(max(9, c.size - 5)),
        c.bottom - 90,
    )
    warning(c)


def ad_poster(c: Canvas) -> None:
    """Centred large type over geometric shapes, with a tagline."""
    rng = c.rng
    for _ in range(rng.randint(2, 6)):
        x, y, r = rng.randint(0, c.width), rng.randint(0, c.height), rng.randint(40, 220)
        shape = c.draw.ellipse if rng.random() < 0.5 else c.draw.rectangle
        shape((x - r, y - r, x + r, y + r), fill=rng.choice([40, 120, 180, 215]))
    y = rng.randint(c.top, 400)
    for _ in range(rng.randint(1, 3)):
        slogan = c.phrase(rng.randint(1, 3), 0.7).upper()
        c.text_center(
            c.width / 2,
            y,
            slogan,
            c.fit(
                slogan, body_width(c), rng.randint(40, 70), bold=True, family=rng.choice(FAMILIES)
            ),
        )
        y += 85
    tagline = c.phrase(rng.randint(3, 7), 0.5)
    c.text_center(
        c.width / 2,
        y + 30,
        tagline,
        c.fit(tagline, body_width(c), rng.randint(18, 26), italic=True),
    )
    if rng.random() < 0.6:
        warning(c)


# ---- file folders, handwriting ------------------------------------------------------------
def folder_tab(c: Canvas) -> None:
    """A folder front: outline with a tab, a label with a few lines, mostly empty."""
    rng = c.rng
    tab_x = rng.randint(c.left, c.right - 250)
    c.draw.line(
        [
            (20, 90),
            (tab_x, 90),
            (tab_x + 20, 30),
            (tab_x + 230, 30),
            (tab_x + 250, 90),
            (c.width - 20, 90),
            (c.width - 20, c.height - 20),
            (20, c.height - 20),
            (20, 90),
        ],
        fill=c.ink,
        width=rng.randint(2, 4),
    )
    font = c.font(rng.randint(14, 20), bold=rng.random() < 0.5)
    if rng.random() < 0.5:
        c.hand(tab_x + 25, 45, c.phrase(rng.randint(1, 3), 0.6), 20, tab_x + 230)
    else:
        c.text(tab_x + 25, 50, c.phrase(rng.randint(1, 2), 0.6).upper(), font)
    if rng.random() < 0.6:
        y = rng.randint(150, 500)
        c.rect((c.left, y, c.left + 320, y + 90), width=2)
        c.text(c.left + 10, y + 10, c.phrase(rng.randint(2, 4), 0.5).upper(), font)
        c.text(
            c.left + 10,
            y + 45,
            f"{rng.choice(['Box', 'Vol.', 'File No.'])} {rng.randint(1, 999)}",
            font,
        )


def folder_label(c: Canvas) -> None:
    """A label sticker and index tabs, stamps and a handwritten note."""
    rng = c.rng
    y = rng.randint(60, 300)
    x1 = c.left + rng.randint(300, 560)
    c.rect((c.left, y, x1, y + 150), width=3)
    font = load_font("mono", rng.randint(14, 20), True)
    for i in range(rng.randint(2, 4)):
        c.text(c.left + 15, y + 15 + i * 30, c.phrase(rng.randint(1, 4), 0.6).upper(), font)
    for k in range(rng.randint(2, 5)):
        ty = 400 + k * 110
        c.rect((c.right - 60, ty, c.right, ty + 90))
        c.text(c.right - 55, ty + 35, chr(65 + k), c.font(18, bold=True))
    if rng.random() < 0.6:
        c.text(
            c.left + 40,
            c.height - 300,
            rng.choice(["CONFIDENTIAL", "RESTRICTED", "PRIVILEGED", "DO NOT REMOVE"]),
            c.font(rng.randint(28, 44), bold=True),
        )
    if rng.random() < 0.5:
        c.hand(c.left, c.height - 200, c.phrase(rng.randint(2, 5)), 22)


def folder_blank(c: Canvas) -> None:
    """A nearly blank folder back with fold lines, a date stamp and a file number."""
    rng = c.rng
    for y in (rng.randint(100, 200), rng.randint(700, 900)):
        c.rule(0, y, c.width, width=rng.randint(1, 3))
    if rng.random() < 0.7:
        c.draw.rectangle(
            (c.left, 30, c.left + rng.randint(150, 400), 70), fill=rng.randint(150, 220)
        )
    c.text(
        c.left + 10, 40, f"{c.phrase(1, 0.8).upper()} {rng.randint(1, 9999)}", c.font(18, bold=True)
    )
    if rng.random() < 0.6:
        x, y = rng.randint(c.left, c.right - 220), rng.randint(300, 600)
        c.rect((x, y, x + 200, y + 70), width=2)
        c.text(x + 10, y + 8, rng.choice(["RECEIVED", "FILED", "RETURN TO"]), c.font(18, bold=True))
        c.text(x + 10, y + 38, txt.date(rng, 2).upper(), c.font(16))


def hand_note(c: Canvas) -> None:
    """A handwritten note on ruled paper, greeting to signature."""
    rng = c.rng
    size = rng.randint(20, 30)
    gap = int(size * rng.uniform(1.5, 1.9))
    if rng.random() < 0.6:
        for y in range(c.top + gap, c.height - 30, gap):
            c.draw.line([(0, y + size), (c.width, y + size)], fill=rng.randint(170, 215))
    x, y = c.hand(
        c.left, c.top, f"{rng.choice(['Dear', 'Hi', 'To'])} {rng.choice(txt.FIRST_NAMES)},", size
    )
    y += gap
    for _ in range(rng.randint(2, 4)):
        x, y = c.hand(
            c.left + rng.randint(0, 40),
            y,
            " ".join(txt.paragraph(rng, c.label, rng.randint(1, 3), c.share)),
            size,
        )
        y += gap
        if y > c.bottom - 100:
            break
    c.hand(
        c.left + rng.randint(100, 300),
        y + 10,
        rng.choice(["Thanks,", "Love,", "Best,", "-"]) + " " + rng.choice(txt.FIRST_NAMES),
        size,
    )


def hand_scrawl(c: Canvas) -> None:
    """Loose handwriting in blocks with doodles, arrows and underlines on a blank page."""
    rng = c.rng
    size = rng.randint(18, 34)
    y = c.top
    while y < c.bottom - 100:
        x0 = rng.randint(c.left - 20, c.left + 200)
        _, y = c.hand(
            x0, y, c.phrase(rng.randint(2, 12)), size, rng.randint(c.right - 200, c.right)
        )
        if rng.random() < 0.3:
            c.scribble((x0, y + size, x0 + 200, y + size + 40), strokes=1)
        y += int(size * rng.uniform(2, 4))
    if rng.random() < 0.5:
        c.scribble((c.right - 250, c.bottom - 80, c.right - 20, c.bottom), strokes=3)


def hand_annotated(c: Canvas) -> None:
    """A few typed lines on top, the rest handwritten notes and numbers."""
    rng = c.rng
    y = c.top
    if rng.random() < 0.5:
        y = correspondence_header(c, "memo", y)
    else:
        c.text(c.left, y, c.title(), c.font(bold=True))
        y += 40
    size = rng.randint(20, 28)
    while y < c.bottom - 80:
        if rng.random() < 0.3:
            _, y = c.hand(
                c.left + 30,
                y,
                " ".join(
                    f"{rng.randint(1, 99)}{rng.choice(['', '.5', '%', ' -'])}"
                    for _ in range(rng.randint(2, 6))
                ),
                size,
            )
        else:
            _, y = c.hand(c.left + rng.randint(0, 60), y, c.phrase(rng.randint(3, 14)), size)
        y += int(size * rng.uniform(1.6, 2.6))


# ---- resume --------------------------------------------------------------------------------
RESUME_SECTIONS = [
    "EDUCATION",
    "EXPERIENCE",
    "PROFESSIONAL EXPERIENCE",
    "PUBLICATIONS",
    "HONORS",
    "MEMBERSHIPS",
    "POSITIONS HELD",
    "AWARDS",
    "EMPLOYMENT",
]


def resume_sections(c: Canvas) -> None:
    """Name centred, contact line, sections with dated entries."""
    rng = c.rng
    y = c.top
    c.text_center(c.width / 2, y, txt.person(rng).upper(), c.font(c.size + 6, bold=True))
    y += 35
    c.text_center(c.width / 2, y, f"{txt.address(rng)[0]} | {txt.phone(rng)}", c.font(c.size - 2))
    y += 40
    for name in rng.sample(RESUME_SECTIONS, 4):
        if y > c.bottom - 80:
            break
        c.text(c.left, y, name, c.font(bold=True))
        c.rule(c.left, y + c.size + 5, c.right)
        y += c.line_height(c.font()) + 10
        for _ in range(rng.randint(1, 4)):
            start = rng.randint(1955, 1998)
            period = f"{start}-{rng.choice([str(start + rng.randint(1, 9)), 'present'])}"
            c.text(c.left, y, period)
            indent = int(c.font().getlength("0000-present")) + 20
            y = (
                c.wrap(
                    c.left + indent,
                    y,
                    body_width(c) - indent,
                    f"{c.phrase(rng.randint(2, 5)).title()}, {txt.company(rng)}, {rng.choice(txt.CITIES)}".split(),
                )
                + 4
            )
            if y > c.bottom - 40:
                break
        y += 15


def resume_cv(c: Canvas) -> None:
    """`CURRICULUM VITAE` with Name/Address/Born fields and numbered publications."""
    rng = c.rng
    c.family = rng.choice(["times", "serif", "mono"])
    c.text_center(
        c.width / 2,
        c.top,
        rng.choice(["CURRICULUM VITAE", "Curriculum Vitae", "RESUME", "BIOGRAPHICAL SKETCH"]),
        c.font(c.size + 4, bold=True),
    )
    pairs = [
        ("NAME:", txt.person(rng)),
        ("ADDRESS:", ", ".join(txt.address(rng))),
        ("DATE OF BIRTH:", txt.date(rng, 0)),
        ("CITIZENSHIP:", rng.choice(["U.S.A.", "Canada", "United Kingdom", "Germany"])),
        (
            "EDUCATION:",
            f"{rng.choice(['B.S.', 'M.S.', 'Ph.D.', 'M.D.'])} {c.phrase(2).title()}, {rng.randint(1950, 1995)}",
        ),
    ]
    y = fields(c, c.left, c.top + 50, pairs)
    c.text(
        c.left,
        y + 10,
        rng.choice(["SELECTED PUBLICATIONS:", "POSITIONS:", "PROFESSIONAL ACTIVITIES:"]),
        c.font(bold=True),
    )
    bullet_list(
        c,
        c.left + 10,
        y + 20 + c.line_height(c.font()),
        body_width(c) - 10,
        rng.randint(3, 10),
        c.font(c.size - 1),
        "1.",
    )


def resume_two_column(c: Canvas) -> None:
    """Section names in a left column, entries to the right."""
    rng = c.rng
    y = c.top
    c.text(c.left, y, txt.person(rng), c.font(c.size + 8, bold=True))
    c.text_right(c.right, y + 5, txt.phone(rng), c.font(c.size - 2))
    y += 60
    split = c.left + rng.randint(130, 190)
    for name in rng.sample(RESUME_SECTIONS, rng.randint(3, 5)):
        if y > c.bottom - 80:
            break
        c.text(c.left, y, name.title(), c.font(c.size - 1, bold=True))
        y = (
            c.paragraphs(
                split, y, c.right - split, rng.randint(1, 2), c.font(c.size - 1), sentences=(1, 3)
            )
            + 10
        )


TEMPLATES: dict[str, list[Template]] = {
    "advertisement": [ad_headline, ad_coupon, ad_poster],
    "budget": [budget_sheet, budget_summary, budget_request, transmittal],
    "email": [email_outlook, email_thread, email_record],
    "file_folder": [folder_tab, folder_label, folder_blank],
    "form": [form_boxes, form_lines, form_checklist, fax_cover],
    "handwritten": [hand_note, hand_scrawl, hand_annotated],
    "invoice": [invoice_items, invoice_statement, invoice_receipt, budget_request, transmittal],
    "letter": [letter_formal, letter_typed, letter_short, fax_cover, news_release, continuation],
    "memo": [memo_classic, memo_interoffice, memo_plain, fax_cover, continuation],
    "news_article": [news_columns, news_clipping, news_release],
    "presentation": [slide_bullets, slide_chart, slide_handout],
    "questionnaire": [questionnaire_items, questionnaire_scale, questionnaire_open],
    "resume": [resume_sections, resume_cv, resume_two_column],
    "scientific_publication": [publication_two_column, publication_single, publication_table],
    "scientific_report": [
        report_cover,
        report_body,
        report_contents,
        publication_single,
        continuation,
    ],
    "specification": [spec_table, spec_clauses, spec_drawing],
}


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


def draw_page(label: str, rng: random.Random, width: int, height: int) -> Canvas:
    """Draw one page of class `label` with one of its templates."""
    canvas = Canvas(label, rng, width, height)
    rng.choice(TEMPLATES[label])(canvas)
    if rng.random() < 0.12:
        fax_line(canvas)
    if rng.random() < 0.35:
        bates(canvas)
    return canvas
