"""Templates of file folders: tabs, labels, nearly blank covers."""

from __future__ import annotations

from docexit.corpus import synth_text as txt
from docexit.corpus.synth_canvas import Canvas, load_font


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
