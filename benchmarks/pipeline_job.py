"""`docexit run` over the benchmark's pages in this process, timed as a whole (start-up
included), with each page's OCR and inference milliseconds from its output Parquet."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docexit.benchmarks.pipeline_pages import PageSet


def pipeline_argv(
    pattern: str, output: str, model_dir: str, workers: int, extra: Sequence[str] = ()
) -> list[str]:
    """`docexit run` arguments for the benchmark's pages."""
    argv = ["--input", pattern, "--output", output, "--model", model_dir, "--no-summary"]
    if workers > 1:
        argv += ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    return argv + list(extra)


def run_pipeline(
    page_set: PageSet,
    model_dir: str,
    output_dir: str | Path,
    workers: int = 1,
    extra: Sequence[str] = (),
    progress: bool = True,
) -> dict[str, Any]:
    """`docexit run` over the page set in this process: its wall clock (checks, model loads and
    worker start included), and each page's figures from its Parquet, keyed by file name."""
    from docexit.pipeline.run import run
    from docexit.transforms.sinks import read_parquet

    total = len(page_set.pages)
    every = max(1, math.ceil(total / max(1, workers) / 10)) if progress else 0
    argv = pipeline_argv(
        page_set.pattern,
        str(Path(output_dir) / "pages"),
        model_dir,
        workers,
        ["--progress-every", str(every), *extra],
    )
    start = time.perf_counter()
    summary = run(argv)
    wall_s = time.perf_counter() - start
    rows = read_parquet(summary.row_files).to_pylist()
    per_page = {
        Path(r["source"]).name: {
            "ocr_ran": bool(r["ocr_ran"]),  # False: the page left at the vision stage
            "ocr_ms": float(r["ocr_ms"]),
            "inference_ms": float(r["inference_ms"]),  # its share of its batch
            "exit_layer": int(r["exit_layer"]),
        }
        for r in rows
    }
    exit_layers = [r["exit_layer"] for r in rows]
    return {
        "argv": argv,
        "workers": workers,
        "pages_in": total,
        "rows": summary.pages,
        "dead_letters": summary.total_dead_letters,
        "dead_letter_stages": summary.dead_letters,
        "wall_s": wall_s,
        "run_s": summary.seconds,  # Beam's run alone, DoFn set-up included
        "per_page": per_page,
        "exit_layers": {str(k): exit_layers.count(k) for k in sorted(set(exit_layers))},
        "metrics": summary.metrics,
    }
