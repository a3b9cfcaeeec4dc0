"""Templates of news articles, presentations and advertisements."""

from __future__ import annotations

from docexit.corpus import synth_text as txt
from docexit.corpus.layouts.blocks import body_width, bullet_list, columns, letterhead
from docexit.corpus.synth_canvas import FAMILIES, Canvas, load_font


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
        c.body(2, 0.5),
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
        c.body(2, 0.5),
        c.font(c.size),
    )
    c.text(x0 + 30, y1 - 45, f"Expires {txt.date(rng, 0)}", c.font(c.size - 2, bold=True))
    c.wrap(
        c.left,
        y1 + 30,
        body_width(c),
        c.body(3, 0.3),
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
