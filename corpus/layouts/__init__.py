"""Per-class page templates for the synthetic corpus.

A template is a function `template(canvas) -> None` that draws one page on a `Canvas`
(`corpus/synth_canvas.py`), which records every word it draws with its pixel box.
`TEMPLATES[label]` lists the templates of each RVL-CDIP class; the templates live in one module
per family of classes, the building blocks they share (correspondence headers, tables, check
boxes, technical body text) in `blocks`, so that confusable classes differ only in subtle cues.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from docexit.corpus.layouts.blocks import bates, fax_line
from docexit.corpus.layouts.correspondence import (
    continuation,
    email_outlook,
    email_record,
    email_thread,
    fax_cover,
    letter_formal,
    letter_short,
    letter_typed,
    memo_classic,
    memo_interoffice,
    memo_plain,
    transmittal,
)
from docexit.corpus.layouts.financial import (
    budget_request,
    budget_sheet,
    budget_summary,
    invoice_items,
    invoice_receipt,
    invoice_statement,
)
from docexit.corpus.layouts.folders import folder_blank, folder_label, folder_tab
from docexit.corpus.layouts.forms import (
    form_boxes,
    form_checklist,
    form_lines,
    questionnaire_items,
    questionnaire_open,
    questionnaire_scale,
)
from docexit.corpus.layouts.handwritten import hand_annotated, hand_note, hand_scrawl
from docexit.corpus.layouts.media import (
    ad_coupon,
    ad_headline,
    ad_poster,
    news_clipping,
    news_columns,
    news_release,
    slide_bullets,
    slide_chart,
    slide_handout,
)
from docexit.corpus.layouts.resumes import resume_cv, resume_sections, resume_two_column
from docexit.corpus.layouts.technical import (
    publication_single,
    publication_table,
    publication_two_column,
    report_body,
    report_contents,
    report_cover,
    spec_clauses,
    spec_drawing,
    spec_table,
)
from docexit.corpus.synth_canvas import Canvas
from docexit.corpus.synth_text import ArchiveWords

Template = Callable[[Canvas], None]


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


def draw_page(
    label: str,
    rng: random.Random,
    width: int,
    height: int,
    archive_words: ArchiveWords | None = None,
) -> Canvas:
    """Draw one page of class `label` with one of its templates; `archive_words`, when given,
    fill its running text."""
    canvas = Canvas(label, rng, width, height, archive_words)
    rng.choice(TEMPLATES[label])(canvas)
    if rng.random() < 0.12:
        fax_line(canvas)
    if rng.random() < 0.35:
        bates(canvas)
    return canvas
