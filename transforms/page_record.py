"""One typed page record that flows through every stage and becomes the output row.

    decode -> PageRecord(source, page, content_hash, image)
    vision stage (optional) -> .with_exit(PageExit)               -> row (`rows.page_row`)
    OCR -> .with_ocr(OcrResult): words, boxes, ocr_ms, ocr_ran
    featurize -> .with_features(PageFeatures): the image is dropped
    classify (RunInference) -> .with_exit(PageExit)               -> row (`rows.page_row`)

Each stage adds what it knows with `dataclasses.replace`, so source, page and content hash are
set once, at decode, and never copied by hand. Every field and property of `PageRecord` and
`PageExit` is an output column of the same name (`rows.ROWS_SCHEMA`), except the fields marked
`NOT_A_COLUMN`: adding an output column is one field here plus one schema field
(docs/design.md, "Data contracts").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields, replace

from PIL import Image

from docexit.transforms.records import Box, OcrResult, PageFeatures

NOT_A_COLUMN = {"column": False}  # field metadata: carried between stages, not written out


def page_key(source: str, page: int) -> str:
    """The key that identifies one page in keyed PCollections: "<source>#<page>"."""
    return f"{source}#{page}"


@dataclass(frozen=True)
class PageExit:
    """Where and how a page left: the answer of the stage that classified it."""

    label_id: int  # index into the model's label names
    confidence: float  # calibrated probability of `label_id` at the exit taken
    exit_stage: str  # `rows.VISION_STAGE` (before OCR) or `rows.ENCODER_STAGE`
    exit_layer: int  # 1-based encoder layer; 0: modality exit; -1: vision stage
    exit_index: int  # index into the model's exits; -1: vision stage
    exit_policy: str  # the policy's name
    exit_threshold: float | None  # the threshold the page faced at that exit; None if none
    inference_ms: float  # the page's share of its batch's model time


@dataclass(frozen=True)
class PageRecord:
    """One page of an input file, from decode to its output row (see the module docstring)."""

    source: str  # the input file's path or URL
    page: int  # 0-based page index within the file
    content_hash: str  # sha256 hex of the whole file's bytes
    # mode "L" or "RGB", EXIF rotation applied; None once featurized
    image: Image.Image | None = field(
        default=None, compare=False, repr=False, metadata=NOT_A_COLUMN
    )
    words: tuple[str, ...] = ()  # OCR words in reading order (columns under --keep-ocr)
    boxes: tuple[Box, ...] = ()  # one 0-1000 (x0, y0, x1, y1) box per word
    ocr_ran: bool = False  # False: the page left before OCR
    ocr_ms: float = 0.0  # wall-clock time spent in the OCR engine
    features: PageFeatures | None = field(
        default=None, compare=False, repr=False, metadata=NOT_A_COLUMN
    )
    exit: PageExit | None = field(default=None, metadata=NOT_A_COLUMN)  # its fields are columns

    @property
    def word_count(self) -> int:
        return len(self.words)

    @property
    def token_count(self) -> int:
        """Tokens fed to the model (0 before featurize)."""
        return 0 if self.features is None else self.features.num_tokens

    def key(self) -> str:
        return page_key(self.source, self.page)

    def with_ocr(self, result: OcrResult) -> PageRecord:
        """The page after OCR: its words, their boxes and the time it took."""
        return replace(
            self,
            words=tuple(str(word) for word in result.words),
            boxes=tuple((int(x0), int(y0), int(x1), int(y1)) for x0, y0, x1, y1 in result.boxes),
            ocr_ran=True,
            ocr_ms=result.seconds * 1000.0,
        )

    def with_features(self, features: PageFeatures) -> PageRecord:
        """The page ready for the model; the image is dropped (the features hold its pixels)."""
        return replace(self, features=features, image=None)

    def with_exit(self, exit_: PageExit) -> PageRecord:
        """The classified page: what `rows.page_row` turns into its output row."""
        return replace(self, exit=exit_, image=None)


@functools.cache
def column_names(record_type: type) -> frozenset[str]:
    """The output columns a record class gives: its fields not marked `NOT_A_COLUMN`, and its
    properties."""
    named = {f.name for f in fields(record_type) if f.metadata.get("column", True)}
    properties = {
        name
        for klass in record_type.__mro__
        for name, value in vars(klass).items()
        if isinstance(value, property)
    }
    return frozenset(named | properties)
