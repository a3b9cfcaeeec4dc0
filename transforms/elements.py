"""Element types that travel between the pipeline's Beam steps (beyond `records.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from docexit.transforms.records import PageFeatures


def page_key(source: str, page: int) -> str:
    """The key that identifies one page in keyed PCollections: "<source>#<page>"."""
    return f"{source}#{page}"


@dataclass(frozen=True)
class FeaturizedPage:
    """A page ready for the model: its features plus what the output row needs from before."""

    source: str
    page: int
    content_hash: str
    width: int
    height: int
    word_count: int
    ocr_ms: float
    features: PageFeatures
    words: tuple[str, ...] = ()  # the OCR words and their 0-1000 boxes (for `--keep-ocr`)
    boxes: tuple[tuple[int, int, int, int], ...] = ()

    @property
    def key(self) -> str:
        return page_key(self.source, self.page)


@dataclass(frozen=True)
class PagePrediction:
    """The model's answer for one page (or why it has none)."""

    label_id: int = -1
    confidence: float = float("nan")  # calibrated probability of `label_id` at the exit taken
    exit_index: int = -1  # index into the model's exits (the last is the final classifier)
    exit_layer: int = -1  # 1-based encoder layer of that exit; 0 for a pre-encoder modality exit
    inference_ms: float = 0.0  # this page's share of its batch's wall-clock time
    error_type: str | None = None  # set when inference failed for this page alone
    error_message: str | None = None

    @property
    def failed(self) -> bool:
        return self.error_type is not None
