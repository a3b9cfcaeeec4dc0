"""Templates of boxes and lines: forms and questionnaires."""

from __future__ import annotations

from docexit.corpus.layouts.blocks import body_width, boxed_fields, letterhead, signature_lines
from docexit.corpus.synth_canvas import Canvas


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
