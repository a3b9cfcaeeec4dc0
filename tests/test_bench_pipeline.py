"""`docexit bench pipeline` on three synthetic pages with the tiny model: the report's structure
and that its page counts add up (no timing assertions)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pytest
from PIL import Image

from docexit.benchmarks import ocr_context, pipeline_bench, pipeline_memory, pipeline_pages
from docexit.models.device import CPU_WORKER_THREADS
from docexit.pipeline.cli import bench as bench_cli
from docexit.transforms.dofns import OCR_CPU_US, OCR_WALL_US

# the real sample where DOCEXIT_RVL_SAMPLE points, else beside the repository
RVL_SAMPLE = Path(
    os.environ.get("DOCEXIT_RVL_SAMPLE")
    or Path(__file__).parents[2] / "shared/data/rvl-cdip-sample"
)

PAGES = 3


@pytest.fixture(scope="module")
def page_set(tmp_path_factory: pytest.TempPathFactory) -> pipeline_pages.PageSet:
    return pipeline_pages.prepare_pages(tmp_path_factory.mktemp("bench_pages"), PAGES)


def test_pages_are_prepared_pngs(page_set: pipeline_pages.PageSet) -> None:
    from PIL import Image

    assert len(page_set.pages) == PAGES
    assert len({p.path for p in page_set.pages}) == PAGES
    for page in page_set.pages:
        with Image.open(page.path) as image:
            assert image.format == "PNG" and image.mode in ("L", "RGB")
        assert 70 <= page.dpi <= 2400
    labels = [Path(p.source).stem.rpartition("_")[0] for p in page_set.pages]
    assert len(set(labels)) == PAGES  # classes in turn, not the first class's files


@pytest.mark.skipif(not (RVL_SAMPLE / "images").is_dir(), reason="real sample absent")
def test_real_pages_are_prepared_from_input(tmp_path: Path) -> None:
    pattern = str(RVL_SAMPLE / "images" / "*")
    page_set = pipeline_pages.prepare_pages(tmp_path, 2, pattern)
    assert page_set.origin == f"--input {pattern}" and len(page_set.pages) == 2
    for page in page_set.pages:
        assert Path(page.source).parent == RVL_SAMPLE / "images" and page.path.endswith(".png")
        assert 70 <= page.dpi <= 2400


@pytest.mark.slow
def test_benchmark_report_counts_add_up(
    page_set: pipeline_pages.PageSet, tiny_model_dir: Path, tmp_path: Path
) -> None:
    report = pipeline_bench.run_benchmark(
        page_set,
        str(tiny_model_dir),
        tmp_path,
        workers=1,
        rounds=2,
        pipeline_args=["--device", "cpu"],
    )
    json.dumps(report)  # everything serialises

    assert report["pages"]["count"] == PAGES
    assert len(report["rounds"]) == 2
    names = {Path(p.path).name for p in page_set.pages}
    for round_ in report["rounds"]:
        for name in ("cli", "engine"):
            run = round_[name]
            assert run["pages"] + run["failures"] == PAGES and run["failures"] == 0
            assert set(run["seconds"]) == names and run["words"] > 0
        assert round_["engine"]["cpu_s"] > 0 and round_["figures"]["engine_cpu_share"] > 0
        pipe = round_["pipeline"]
        assert pipe["pages_in"] == PAGES and set(pipe["per_page"]) == names
        assert pipe["rows"] + pipe["dead_letters"] == PAGES and pipe["dead_letters"] == 0
        assert sum(pipe["exit_layers"].values()) == pipe["rows"]
        assert round_["pipeline_first"]["rows"] == 1  # the start-up run: the first page alone
        assert round_["figures"]["ocr_pages"] == sum(
            p["ocr_ran"] for p in pipe["per_page"].values()
        )
        # the OCR stage as its DoFn measured it: one value per page it OCRed
        ocred = round_["figures"]["ocr_pages"]
        for metric in (OCR_WALL_US, OCR_CPU_US):
            assert pipe["metrics"].get(metric, {}).get("count", 0) == ocred
        assert ocred == 0 or round_["figures"]["ocr_stage_vs_engine_cpu"] > 0
        assert round_["engine"]["cpu_seconds"].keys() == round_["engine"]["seconds"].keys()
    assert all(report["counts_add_up"].values())
    # the paired A/B ran on the pages the last round's pipeline OCRed, less the warm-up page
    ocred = report["rounds"][-1]["figures"]["ocr_pages"]
    paired = report["paired"]
    assert (paired is None) if ocred < 2 else (paired["pages"] == ocred - 1 > 0)
    after_work = report["after_work"]  # the same pages, the first one warming up
    assert (after_work is None) if ocred < 2 else (after_work["pages"] == ocred - 1)
    assert set(report["ratio_definitions"]) >= {"ocr_stage_vs_engine", "ocr_call_after_work_cpu"}
    assert report["figures"]["engine_vs_cli"]["n"] == 2
    assert len(report["targets"]) == 5
    assert report["torch_threads"] == CPU_WORKER_THREADS  # from the pipeline's args
    pipeline_bench.print_report(report)


def test_after_work_calls_put_the_work_between_calls(page_set: pipeline_pages.PageSet) -> None:
    """Each page's call right after an OCR call and right after the work on the previous page
    (the page and its OCR words, as the pipeline featurizes them)."""
    done: list[tuple[tuple[int, int], int]] = []
    pairs = ocr_context.after_work_calls(
        page_set.pages, lambda image, ocr: done.append((image.size, len(ocr.words)))
    )
    assert len(pairs) == len(done) == PAGES - 1  # the first page only warms up
    assert all(back > 0 and after > 0 for back, after in pairs)
    sizes = [Image.open(p.path).size for p in page_set.pages[:-1]]
    assert [size for size, _ in done] == sizes and all(words > 0 for _, words in done)


def test_reports_the_torch_threads_each_pipeline_worker_runs() -> None:
    threads = pipeline_bench.worker_torch_threads
    assert threads(["--device", "cpu", "--batch-size", "8"]) == 1  # the CPU default
    assert threads(["--device=cpu", "--torch-threads=3"]) == 3
    assert threads(["--device", "cuda", "--torch-threads", "2"]) == 2
    assert threads(["--device", "cuda"]) is None  # torch's own


def test_tree_rss_sees_the_child_process() -> None:
    code, peak, seconds = pipeline_memory.run_with_peak_rss(
        [sys.executable, "-c", "import time; b = bytearray(64 << 20); time.sleep(1.0)"],
        interval_s=0.05,
    )
    assert code == 0 and seconds > 0
    assert peak >= 64 << 20


def test_link_pages_gives_distinct_names(page_set: pipeline_pages.PageSet, tmp_path: Path) -> None:
    pattern = pipeline_memory.link_pages(page_set, 2 * PAGES + 1, tmp_path / "linked")
    files = sorted(Path(pattern).parent.glob(Path(pattern).name))
    assert len(files) == 2 * PAGES + 1
    assert files[0].read_bytes() == Path(page_set.pages[0].path).read_bytes()


def test_registered_as_a_bench_target() -> None:
    assert bench_cli.TARGETS["pipeline"][0] == "docexit.benchmarks.pipeline_bench"
    parser = argparse.ArgumentParser()
    bench_cli.add_arguments(parser)
    args = parser.parse_args(["pipeline", "--pages", "3", "--workers", "2", "--memory-check"])
    assert (args.pages, args.workers, args.memory_check, args.memory_pages) == (3, 2, True, 100)
