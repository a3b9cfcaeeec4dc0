"""Dead letters: one row per input that could not be turned into an output row, and why.

Every stage DoFn emits its failures on the tagged output `DEAD_LETTERS` instead of raising, so a
bad file or page never fails the run; `pipeline/build.py` flattens them into one PCollection.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from apache_beam.metrics import Metrics

from docexit.transforms.page_record import PageRecord

DEAD_LETTERS = "dead_letters"  # tag of every stage's failure output
METRICS_NAMESPACE = "docexit"
STAGES = ("match", "read", "decode", "ocr", "featurize", "inference")
MAX_MESSAGE_CHARS = 2000


@dataclass(frozen=True)
class DeadLetter:
    """One failure (docs/design.md, "Parquet schema")."""

    source: str  # input file path or URL (the pattern, for stage "match")
    page: int | None  # 0-based page index; None when the failure concerns the whole file
    stage: str  # one of STAGES
    error_type: str  # exception class name, e.g. "DecodeError"
    error_message: str  # str(exception), truncated to MAX_MESSAGE_CHARS

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"unknown stage {self.stage!r}; expected one of {STAGES}")

    def to_row(self) -> dict[str, Any]:
        """The Parquet row (see `sinks.DEAD_LETTER_SCHEMA`)."""
        return asdict(self)


def dead_letter(stage: str, source: str, page: int | None, error: BaseException) -> DeadLetter:
    """A `DeadLetter` for `error`, counting it in the `dead_letters_<stage>` counter."""
    Metrics.counter(METRICS_NAMESPACE, f"dead_letters_{stage}").inc()
    message = str(error) or repr(error)
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 3] + "..."
    return DeadLetter(
        source=source,
        page=page,
        stage=stage,
        error_type=type(error).__name__,
        error_message=message,
    )


def page_dead_letter(stage: str, page: PageRecord, error: BaseException) -> DeadLetter:
    """A `DeadLetter` for `error` on one page, which names it by its record's source and page."""
    return dead_letter(stage, page.source, page.page, error)
