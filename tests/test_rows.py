"""The page record and its output row: every schema column comes from the record by one
function, and a page keeps its source, page and content hash from decode to row."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pyarrow as pa
import pytest

from docexit.pipeline.defaults import bundled_model_dir, samples_dir
from docexit.transforms.dead_letters import page_dead_letter
from docexit.transforms.decode import decode_pages
from docexit.transforms.featurize import Featurizer
from docexit.transforms.ocr import ocr_image
from docexit.transforms.page_record import PageExit, PageRecord, column_names
from docexit.transforms.records import LABELS, OcrResult, PageFeatures
from docexit.transforms.rows import (
    ENCODER_STAGE,
    JOB_COLUMNS,
    VISION_EXIT_LAYER,
    VISION_STAGE,
    job_rows_schema,
    page_row,
)
from docexit.transforms.sinks import ROWS_SCHEMA

META = {"label_names": list(LABELS), "num_layers": 6, "model_id": "m@1", "min_confidence": 0.5}


def _features(tokens: int) -> PageFeatures:
    return PageFeatures(
        input_ids=np.arange(tokens, dtype=np.int64),  # (T,)
        bbox=np.zeros((tokens, 4), dtype=np.int64),  # (T, 4)
        pixel_values=np.zeros((3, 8, 8), dtype=np.float32),  # (3, S, S)
    )


def _encoder_exit(confidence: float = 0.75) -> PageExit:
    return PageExit(
        label_id=LABELS.index("memo"),
        confidence=confidence,
        exit_stage=ENCODER_STAGE,
        exit_layer=2,
        exit_index=1,
        exit_policy="max_prob",
        exit_threshold=0.9,
        inference_ms=3.5,
    )


def _classified_page() -> PageRecord:
    """A page through OCR, featurize and an encoder exit, as the pipeline's stages build it."""
    record = PageRecord(source="s.tif", page=2, content_hash="ab" * 32)
    ocr = OcrResult(words=["Dear", "Sir"], boxes=[(1, 2, 3, 4), (5, 6, 7, 8)], seconds=0.25)
    return record.with_ocr(ocr).with_features(_features(5)).with_exit(_encoder_exit())


def test_every_schema_column_comes_from_the_record_and_every_record_column_is_in_the_schema():
    sources = [column_names(PageRecord), column_names(PageExit), frozenset(JOB_COLUMNS)]
    schema = set(job_rows_schema(keep_ocr=True).names)
    assert set().union(*sources) == schema
    assert sum(map(len, sources)) == len(schema)  # no column comes from two places


@pytest.mark.parametrize("keep_ocr", [False, True])
def test_page_row_gives_the_schema_columns_in_order_and_arrow_takes_them(keep_ocr: bool) -> None:
    schema = job_rows_schema(keep_ocr)
    row = page_row(_classified_page(), {**META, "keep_ocr": keep_ocr})
    assert list(row) == schema.names
    table = pa.Table.from_pylist([row], schema=schema)
    assert table.to_pylist()[0] == row
    assert row["label"] == "memo" and row["review"] is False  # 0.75 >= --min-confidence 0.5
    assert (row["word_count"], row["token_count"], row["ocr_ran"], row["ocr_ms"]) == (
        2,
        5,
        True,
        250.0,
    )
    assert row["exit_stage"] == ENCODER_STAGE and row["exit_threshold"] == 0.9
    if keep_ocr:
        assert row["words"] == ["Dear", "Sir"] and row["boxes"] == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert page_row(dataclasses.replace(_classified_page(), exit=_encoder_exit(0.25)), META)[
        "review"
    ]


def test_a_page_that_left_before_ocr_has_empty_ocr_columns() -> None:
    vision = dataclasses.replace(
        _encoder_exit(),
        exit_stage=VISION_STAGE,
        exit_layer=VISION_EXIT_LAYER,
        exit_index=VISION_EXIT_LAYER,
    )
    record = PageRecord(source="a.png", page=0, content_hash="00").with_exit(vision)
    row = page_row(record, {**META, "keep_ocr": True})
    assert row["words"] == [] and row["boxes"] == []
    assert (row["ocr_ran"], row["word_count"], row["token_count"], row["ocr_ms"]) == (
        False,
        0,
        0,
        0.0,
    )
    assert "words" not in page_row(record, {**META, "keep_ocr": False})


def test_adding_a_column_is_one_field_plus_the_schema() -> None:
    record_with_dpi = dataclasses.make_dataclass(
        "RecordWithDpi",
        [("dpi", int, dataclasses.field(default=300))],
        bases=(PageRecord,),
        frozen=True,
    )
    schema = ROWS_SCHEMA.append(pa.field("dpi", pa.int32(), nullable=False))
    page = _classified_page()
    record = record_with_dpi(**{f.name: getattr(page, f.name) for f in dataclasses.fields(page)})
    row = page_row(record, META, schema)
    assert row["dpi"] == 300
    assert pa.Table.from_pylist([row], schema=schema).column("dpi").to_pylist() == [300]
    with pytest.raises(KeyError, match="'dpi'"):  # a schema column nothing gives
        page_row(page, META, schema)


def test_a_page_without_an_exit_is_not_a_row() -> None:
    with pytest.raises(ValueError, match="no exit"):
        page_row(PageRecord(source="a.png", page=0, content_hash="00"), META)


def test_a_page_keeps_its_source_page_and_hash_through_every_stage() -> None:
    path = samples_dir() / "images" / "memo_0000.png"
    (decoded,) = decode_pages(path.read_bytes(), str(path), dpi=100)
    ocred = decoded.with_ocr(ocr_image(decoded.image))
    featurized = ocred.with_features(Featurizer(bundled_model_dir())(*_ocr_input(ocred)))
    row = page_row(featurized.with_exit(_encoder_exit()), META)
    assert (row["source"], row["page"], row["content_hash"]) == (
        str(path),
        0,
        decoded.content_hash,
    )
    assert row["word_count"] == len(ocred.words) > 0
    assert row["token_count"] == featurized.features.num_tokens > row["word_count"] // 2
    assert featurized.image is None  # the features hold the pixels from here on
    assert pickle.loads(pickle.dumps(decoded)) == decoded  # Beam pickles the records
    letter = page_dead_letter("featurize", ocred, ValueError("bad box"))
    assert (letter.source, letter.page) == (decoded.source, decoded.page)


def _ocr_input(page: PageRecord) -> tuple:
    return page.words, page.boxes, page.image
