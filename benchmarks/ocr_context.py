"""Does the pipeline's work between two OCR calls slow the next call?

The bare loop runs its Tesseract calls back to back; in the pipeline each call follows the
previous page's featurize and, when RunInference batches one page at a time, its model run,
which may evict Tesseract's data from the CPU caches. `after_work_calls` times the pipeline's
OCR call on each page twice in this thread: right after another OCR call, and right after that
work on the previous page (featurize it and classify it as a batch of one, the most work that
can run between two calls); which goes first alternates. Both are CPU time of the calling
thread, so other jobs on the machine reach them only through the caches and the clock speed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from docexit.benchmarks.pipeline_pages import BenchPage


def pipeline_work(model_dir: str) -> Callable[[Any, Any], None]:
    """What `docexit run` does to an OCRed page before the next OCR call at batch size 1:
    featurize (tokenizer, page pixels) and classify it with the early-exit engine on CPU."""
    from docexit.pipeline.build import featurizer_kwargs
    from docexit.transforms.featurize import Featurizer
    from docexit.transforms.inference import EarlyExitModelHandler, read_model_config

    config = read_model_config(model_dir)
    featurizer = Featurizer(**featurizer_kwargs(config, 512, model_dir))  # --max-tokens default
    runner = EarlyExitModelHandler(model_dir, config["policy"], device="cpu").load_model()

    def work(image: Any, ocr: Any) -> None:
        features = featurizer(ocr.words, ocr.boxes, image)
        runner.classify([features])

    return work


def after_work_calls(
    pages: Sequence[BenchPage], work: Callable[[Any, Any], None]
) -> list[tuple[float, float]]:
    """(CPU s right after an OCR call, CPU s right after `work` on the previous page) of the
    pipeline engine's call on each page, with `docexit run`'s default OCR settings. The first
    page has no previous page and is left out."""
    from docexit.pipeline.options import DEFAULT_OCR_TIMEOUT
    from docexit.transforms.decode import decode_pages
    from docexit.transforms.ocr import OcrConfig, get_engine

    engine = get_engine(OcrConfig(timeout=DEFAULT_OCR_TIMEOUT))
    previous: tuple[Any, Any] | None = None
    pairs = []
    for i, page in enumerate(pages):
        image = next(iter(decode_pages(Path(page.path).read_bytes(), page.path))).image
        if previous is None:
            previous = image, engine.recognize(image)
            continue
        # Either order keeps each call's predecessor: the back-to-back call follows an OCR
        # call (this page's, or the previous page's last), the other call follows `work`.
        if i % 2:
            back_to_back = engine.recognize(image).cpu_seconds
            work(*previous)
            result = engine.recognize(image)
        else:
            work(*previous)
            result = engine.recognize(image)
            back_to_back = engine.recognize(image).cpu_seconds
        pairs.append((back_to_back, result.cpu_seconds))
        previous = image, result
    return pairs
