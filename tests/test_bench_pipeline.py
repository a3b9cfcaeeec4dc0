"""`docexit bench pipeline` on three synthetic pages with the tiny model: the report's structure
and that its page counts add up (no timing assertions)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from docexit.benchmarks import pipeline_bench
from docexit.pipeline.cli import bench as bench_cli

PAGES = 3


@pytest.fixture(scope="module")
def page_set(tmp_path_factory: pytest.TempPathFactory) -> pipeline_bench.PageSet:
    return pipeline_bench.prepare_pages(tmp_path_factory.mktemp("bench_pages"), PAGES)


def test_pages_are_prepared_pngs(page_set: pipeline_bench.PageSet) -> None:
    from PIL import Image

    assert len(page_set.pages) == PAGES
    assert len({p.path for p in page_set.pages}) == PAGES
    for page in page_set.pages:
        with Image.open(page.path) as image:
            assert image.format == "PNG" and image.mode in ("L", "RGB")
        assert 70 <= page.dpi <= 2400
    labels = [Path(p.source).stem.rpartition("_")[0] for p in page_set.pages]
    assert len(set(labels)) == PAGES  # classes in turn, not the first class's files


@pytest.mark.slow
def test_benchmark_report_counts_add_up(
    page_set: pipeline_bench.PageSet, tiny_model_dir: Path, tmp_path: Path
) -> None:
    report = pipeline_bench.run_benchmark(page_set, str(tiny_model_dir), tmp_path, workers=1)
    json.dumps(report)  # everything serialises

    assert report["pages"]["count"] == PAGES
    for name in ("cli", "engine"):
        run = report[name]
        assert run["pages"] + run["failures"] == PAGES and run["failures"] == 0
        assert run["busy_s"] > 0 and run["pages_per_s"] > 0 and run["words"] > 0
    pipe = report["pipeline"]
    assert pipe["pages_in"] == PAGES
    assert pipe["rows"] + pipe["dead_letters"] == PAGES and pipe["dead_letters"] == 0
    assert sum(pipe["exit_layers"].values()) == pipe["rows"]
    assert pipe["ocr"]["sum_s"] > 0 and pipe["ocr"]["pages_per_s"] > 0
    assert pipe["inference"]["sum_s"] > 0
    assert set(report["ratios"]) == {
        "pipeline_ocr_vs_engine",
        "engine_vs_cli",
        "pipeline_ocr_vs_cli",
        "inference_vs_ocr",
    }
    assert all(v is not None and v > 0 for v in report["ratios"].values())
    assert all(report["counts_add_up"].values())
    assert len(report["targets"]) == 3
    assert all(isinstance(ok, bool) for ok in report["targets"].values())
    pipeline_bench.print_report(report)


def test_tree_rss_sees_the_child_process() -> None:
    code, peak, seconds = pipeline_bench.run_with_peak_rss(
        [sys.executable, "-c", "import time; b = bytearray(64 << 20); time.sleep(1.0)"],
        interval_s=0.05,
    )
    assert code == 0 and seconds > 0
    assert peak >= 64 << 20


def test_link_pages_gives_distinct_names(page_set: pipeline_bench.PageSet, tmp_path: Path) -> None:
    pattern = pipeline_bench.link_pages(page_set, 2 * PAGES + 1, tmp_path / "linked")
    files = sorted(Path(pattern).parent.glob(Path(pattern).name))
    assert len(files) == 2 * PAGES + 1
    assert files[0].read_bytes() == Path(page_set.pages[0].path).read_bytes()


def test_registered_as_a_bench_target() -> None:
    assert bench_cli.TARGETS["pipeline"][0] == "docexit.benchmarks.pipeline_bench"
    parser = argparse.ArgumentParser()
    bench_cli.add_arguments(parser)
    args = parser.parse_args(["pipeline", "--pages", "3", "--workers", "2", "--memory-check"])
    assert (args.pages, args.workers, args.memory_check, args.memory_pages) == (3, 2, True, 100)
