"""Templates of handwritten pages: notes, scrawls, annotated typed pages."""

from __future__ import annotations

from docexit.corpus import synth_text as txt
from docexit.corpus.layouts.blocks import correspondence_header
from docexit.corpus.synth_canvas import Canvas


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
            " ".join(c.body(rng.randint(1, 3))),
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
