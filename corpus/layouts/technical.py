"""Templates of technical pages: scientific publications, scientific reports and
specifications.
"""

from __future__ import annotations

from docexit.corpus import synth_text as txt
from docexit.corpus.layouts.blocks import (
    body_width,
    boxed_fields,
    bullet_list,
    columns,
    fields,
    generic_table,
    split_widths,
    table,
)
from docexit.corpus.synth_canvas import Canvas


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
                c.body(rng.randint(3, 6)),
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
                    c.body(2),
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
