"""`benchmarks.archive_expert`: an adapted model's out-of-fold exits pooled with an expert trained
on labelled archive text, against the pooled text floor, on the same pages and folds."""

from __future__ import annotations

import pytest
import torch
from conftest import write_archive_text, write_word_split

from docexit.benchmarks.archive_expert import measure
from docexit.corpus.sources import LABELS
from docexit.models.training.recalibration import ArchiveLogits


def test_pooling_teaches_the_exits_what_the_archive_text_knows(tmp_path):
    """Classes 0 and 2 are covered by the archive text, class 1 is not. Pages of classes 0 and 2
    hold words of their own, which the text floor of the other folds cannot learn and the
    archive text holds; class-1 pages share a word the floor learns. Exit `text@0` knows
    nothing (uniform logits); `final@6` tells class 1 from the covered classes but not 0 from
    2. With the expert the covered pages come out right; with the floor too, class 1's."""
    pages = [
        (y, [f"w{y}x{i}", "ledger" if y == 1 else f"v{y}x{i}"]) for y in (0, 1, 2) for i in range(6)
    ]
    write_word_split(tmp_path / "real", "train", pages)
    records = [
        {
            "text": " ".join(f"w{y}x{i} v{y}x{i}" for i in range(6)) + f" n{k}",
            "rvl_cdip_label": LABELS[y],
        }
        for y in (0, 2)
        for k in range(8)
    ]
    archive = write_archive_text(tmp_path / "t.jsonl.gz", records)
    labels = torch.tensor([y for y, _ in pages])
    final = torch.zeros(len(pages), len(LABELS))  # (N, C)
    final[labels == 1, 1] = 5.0
    final[labels != 1, 0] = final[labels != 1, 2] = 3.0  # 0 and 2 tied: argmax says 0
    logits = torch.stack([torch.zeros_like(final), final])  # (E=2, N, C)
    outputs = tmp_path / "out_of_fold.safetensors"
    ArchiveLogits(logits, None, labels, None).save(outputs, [f"train{i}" for i in range(18)])

    result = measure(outputs, tmp_path / "real", archive, ["text@0", "final@6"], folds=3)

    uniform, informed = result["exits"]
    assert uniform["exit"] == "text@0" and uniform["alone"] == 6 / 18  # all called class 0
    assert uniform["+ archive expert"] == 12 / 18  # the covered pages; no text for class 1
    assert uniform["+ text floor + archive expert"] == 1.0  # the floor knows class 1
    assert informed["alone"] == 12 / 18 and informed["+ archive expert"] == 1.0
    assert result["floor"]["accuracy"] == 1.0  # the pooled floor: the same two sources
    diff, low, high = result["final_minus_floor"]["alone"]
    assert abs(diff + 6 / 18) < 1e-9 and low <= diff <= high
    assert result["final_minus_floor"]["+ archive expert"] == [0.0, 0.0, 0.0]


def test_outputs_of_other_pages_are_refused(tmp_path):
    write_word_split(tmp_path / "real", "train", [(0, ["a"]), (1, ["b"])])
    outputs = tmp_path / "o.safetensors"
    ArchiveLogits(torch.zeros(1, 2, len(LABELS)), None, torch.tensor([0, 1]), None).save(
        outputs, ["train0", "elsewhere"]
    )
    archive = write_archive_text(
        tmp_path / "t.jsonl.gz", [{"text": "a" * 30, "rvl_cdip_label": LABELS[0]}]
    )
    with pytest.raises(SystemExit, match="1 pages of .* are not in"):
        measure(outputs, tmp_path / "real", archive, ["final@6"], folds=2)
