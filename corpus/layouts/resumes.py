"""Templates of resumes."""

from __future__ import annotations

from docexit.corpus import synth_text as txt
from docexit.corpus.layouts.blocks import body_width, bullet_list, fields
from docexit.corpus.synth_canvas import Canvas

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
