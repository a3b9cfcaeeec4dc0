"""What the model's runner hands back for each page (beyond `page_record.py`)."""

from __future__ import annotations

from dataclasses import dataclass


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
