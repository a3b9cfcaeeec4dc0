"""Templates of correspondence: letters, memos, e-mails, fax covers, continuation
pages and transmittal letters.
"""

from __future__ import annotations

from docexit.corpus import synth_text as txt
from docexit.corpus.layouts.blocks import (
    body_width,
    bullet_list,
    correspondence_header,
    fields,
    generic_table,
    letterhead,
    signature,
)
from docexit.corpus.synth_canvas import Canvas


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
