"""Templates of tables of figures: invoices and budgets."""

from __future__ import annotations

from docexit.corpus import synth_text as txt
from docexit.corpus.layouts.blocks import (
    body_width,
    boxed_fields,
    bullet_list,
    fields,
    letterhead,
    signature_lines,
    split_widths,
    table,
)
from docexit.corpus.synth_canvas import Canvas


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
