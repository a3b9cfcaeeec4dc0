"""OCR words + boxes + page image -> unpadded model inputs (:class:`PageFeatures`).

The tokenizer travels with the weights: `Featurizer(model_dir)` loads the tokenizer files saved
in the checkpoint folder (`tokenizer.json`, `tokenizer_config.json`, ...), never a fixed one.

Text, two kinds of tokenizer:

* A layout tokenizer (LayoutLMv3's byte-level BPE, or any tokenizer that places boxes itself,
  i.e. has ``cls_token_box``) is called exactly as ``LayoutLMv3Processor(apply_ocr=False)``
  calls it: words and boxes in, one box per subword of a word, its own special tokens and their
  boxes (``<s>``/``</s>``: ``cls_token_box``/``sep_token_box``), truncated to ``max_length``.
* A plain tokenizer (the bundled model's all-MiniLM-L6-v2 WordPiece) gets the words split
  already; each token takes the box of the word it came from (``word_ids()``), [CLS] ... [SEP],
  with LayoutLMv2's special-token boxes: [CLS] (0, 0, 0, 0), [SEP] (1000, 1000, 1000, 1000).

Image: with the checkpoint's image processor (``preprocessor_config.json`` or
``processor_config.json``, imported models)
exactly as it preprocesses an RGB page; otherwise RGB, resized (bilinear) to ``image_size``
square, scaled to [0, 1] and normalised with mean 0.5 / std 0.5 per channel.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import transformers  # top level on purpose: transformers 5's lazy import races across threads
from PIL import Image

from docexit.transforms.records import Box, PageFeatures

if TYPE_CHECKING:
    from docexit.models.text_prior import TextPrior

CLS_BOX: Box = (0, 0, 0, 0)
SEP_BOX: Box = (1000, 1000, 1000, 1000)
PAD_BOX: Box = (0, 0, 0, 0)
IMAGE_MEAN = 0.5
IMAGE_STD = 0.5
TOKENIZER_CONFIG = "tokenizer_config.json"
TOKENIZER_FILE = "tokenizer.json"
IMAGE_PROCESSOR_CONFIG = "preprocessor_config.json"
# transformers 5 saves a processor's image processor inside processor_config.json
IMAGE_PROCESSOR_FILES = (IMAGE_PROCESSOR_CONFIG, "processor_config.json")


class TokenizerError(ValueError):
    """A model folder whose tokenizer files are missing or unusable."""


def load_tokenizer(model_dir: str | Path) -> transformers.PreTrainedTokenizerBase:
    """The fast tokenizer saved in `model_dir`; raises TokenizerError when it is missing."""
    folder = Path(model_dir)
    missing = [n for n in (TOKENIZER_FILE, TOKENIZER_CONFIG) if not (folder / n).is_file()]
    if missing:
        raise TokenizerError(
            f"model folder {folder} has no tokenizer ({', '.join(missing)} missing): every "
            "checkpoint folder holds the tokenizer its weights were trained with"
        )
    previous = transformers.logging.get_verbosity()
    # AutoTokenizer also reads the folder's config.json, whose model type (docexit-early-exit)
    # it does not know: it warns about it although the tokenizer files say what to build
    transformers.logging.set_verbosity_error()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise TokenizerError(f"cannot load the tokenizer in {folder}: {err}") from err
    finally:
        transformers.logging.set_verbosity(previous)
    if not tokenizer.is_fast:  # word_ids() needs the Rust tokenizer
        raise TokenizerError(
            f"expected a fast tokenizer in {folder}, got {type(tokenizer).__name__}"
        )
    return tokenizer


def load_image_processor(model_dir: str | Path) -> transformers.BaseImageProcessor | None:
    """The checkpoint's image processor (OCR off), or None when the folder has none."""
    folder = Path(model_dir)
    if not any((folder / name).is_file() for name in IMAGE_PROCESSOR_FILES):
        return None
    try:
        return transformers.AutoImageProcessor.from_pretrained(str(folder), apply_ocr=False)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise TokenizerError(f"cannot load the image processor in {folder}: {err}") from err


def places_boxes(tokenizer: transformers.PreTrainedTokenizerBase) -> bool:
    """True for layout tokenizers that take boxes and give special tokens their own boxes."""
    return hasattr(tokenizer, "cls_token_box") and hasattr(tokenizer, "sep_token_box")


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
    """Page image -> (3, image_size, image_size) float32, RGB, normalised to about [-1, 1].

    A greyscale page is resized before it becomes RGB: the same pixels as converting first
    (the resize treats each band alike), without three bands of the whole page to resize."""
    if image.mode == "L" and image.size != (image_size, image_size):
        image = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
    rgb = image.convert("RGB")
    if rgb.size != (image_size, image_size):
        rgb = rgb.resize((image_size, image_size), Image.Resampling.BILINEAR)
    pixels = np.asarray(rgb, dtype=np.float32) / 255.0  # (S, S, 3) in [0, 1]
    pixels = (pixels - IMAGE_MEAN) / IMAGE_STD  # (S, S, 3) in [-1, 1]
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))  # (3, S, S)


class Featurizer:
    """Callable ``(words, boxes, image) -> PageFeatures`` with the tokenizer (and image
    processor, if any) of the model in `model_dir`; thread-safe."""

    def __init__(self, model_dir: str | Path, max_length: int = 512, image_size: int = 224) -> None:
        if max_length < 2:
            raise ValueError(f"max_length must be >= 2 ([CLS] and [SEP]), got {max_length}")
        self.model_dir = str(model_dir)
        self.max_length = max_length
        self.image_size = image_size
        self.tokenizer = load_tokenizer(model_dir)
        self.image_processor = load_image_processor(model_dir)
        self._places_boxes = places_boxes(self.tokenizer)

    @functools.cached_property
    def text_prior(self) -> TextPrior | None:
        """The checkpoint's text prior, if any: it travels with the weights too. Read on first
        use: training reads only tokens and pixels from a featurizer."""
        from docexit.models.text_prior import TextPrior

        return TextPrior.load(Path(self.model_dir))

    def tokenize(
        self, words: Sequence[str], boxes: Sequence[Sequence[int]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Token ids (T,) and one 0-1000 box per token (T, 4), both int64, T <= max_length.

        A word that yields no tokens (blank, control characters) simply contributes none.
        """
        word_boxes = validate_boxes(words, boxes)  # (N, 4)
        texts = [str(w) for w in words]
        if self._places_boxes:
            return self._tokenize_with_boxes(texts, word_boxes)
        encoding = self.tokenizer(
            texts,
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

    def _tokenize_with_boxes(
        self, words: list[str], word_boxes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The layout tokenizer's own encoding, as LayoutLMv3Processor(apply_ocr=False) asks it."""
        encoding = self.tokenizer(
            words,
            boxes=word_boxes.tolist(),
            truncation=True,
            max_length=self.max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        input_ids = np.asarray(encoding["input_ids"], dtype=np.int64)  # (T,)
        bbox = np.asarray(encoding["bbox"], dtype=np.int64).reshape(len(input_ids), 4)  # (T, 4)
        return input_ids, bbox

    def pixels(self, image: Image.Image) -> np.ndarray:
        """The page image as the model reads it: (3, S, S) float32."""
        if self.image_processor is None:
            return image_to_pixels(image, self.image_size)
        out = self.image_processor(image.convert("RGB"), return_tensors="np")["pixel_values"]
        return np.ascontiguousarray(out[0], dtype=np.float32)  # (3, S, S)

    def __call__(
        self, words: Sequence[str], boxes: Sequence[Sequence[int]], image: Image.Image
    ) -> PageFeatures:
        """Unpadded model inputs for one page (``collate`` pads a batch)."""
        input_ids, bbox = self.tokenize(words, boxes)
        text = None
        if self.text_prior is not None:
            text = self.text_prior.page_probabilities([" ".join(map(str, words))])[0]  # (2, C)
        return PageFeatures(input_ids, bbox, self.pixels(image), text)
