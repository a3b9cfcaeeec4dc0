"""`docexit bench pipeline --memory-check`: `docexit run` on N and 10N pages in fresh
subprocesses (the same pages hard-linked under distinct names), with the peak resident memory of
each whole process tree."""

from __future__ import annotations

import contextlib
import glob
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docexit.benchmarks.pipeline_job import pipeline_argv
from docexit.benchmarks.pipeline_pages import PageSet, link_file
from docexit.benchmarks.timing import log

DEFAULT_MEMORY_PAGES = 100  # --memory-check runs N and 10N pages


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])  # fields after "(comm)": state, ppid
        children.setdefault(ppid, []).append(int(entry))
    return children


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of `pid` and all its descendants, now (Linux /proc; 0 if gone)."""
    page_size = os.sysconf("SC_PAGE_SIZE")
    children, total, todo = _children_map(), 0, [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * page_size
        todo += children.get(current, [])
    return total


def run_with_peak_rss(
    command: Sequence[str], interval_s: float = 0.2, **popen: Any
) -> tuple[int, int, float]:
    """Run `command`; return (exit code, peak RSS of its process tree in bytes, seconds)."""
    start = time.perf_counter()
    process = subprocess.Popen(list(command), **popen)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss_bytes(process.pid))
        time.sleep(interval_s)
    return process.returncode, peak, time.perf_counter() - start


def link_pages(page_set: PageSet, count: int, folder: Path) -> str:
    """`count` pages under `folder`: the page set's files again and again, hard-linked (copied
    where linking fails) under distinct names; returns the input pattern."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        page = page_set.pages[i % len(page_set.pages)]
        link_file(page.path, folder / f"c{i // len(page_set.pages):04d}_{Path(page.path).name}")
    return str(folder / "*.png")


def memory_check(
    page_set: PageSet,
    model_dir: str,
    work: Path,
    pages: int = DEFAULT_MEMORY_PAGES,
    workers: int = 1,
    extra: Sequence[str] = (),
    progress: bool = True,
) -> dict[str, Any]:
    """`docexit run` on `pages` and 10x `pages` pages in fresh subprocesses: peak tree RSS."""
    runs = []
    for count in (pages, 10 * pages):
        pattern = link_pages(page_set, count, work / f"memory-{count}")
        output = work / f"memory-{count}-out" / "pages"
        command = [
            sys.executable,
            "-m",
            "docexit.pipeline.cli",
            "run",
            *pipeline_argv(pattern, str(output), model_dir, workers, ["--progress-every", "0"]),
            *extra,
        ]
        if progress:
            log(f"  memory: docexit run on {count} pages in a fresh process...")
        log_path = work / f"memory-{count}.log"
        with log_path.open("w") as log_file:
            code, peak, seconds = run_with_peak_rss(command, stdout=log_file, stderr=log_file)
        rows = _count_rows(str(output)) if code == 0 else 0
        if code != 0:
            log(f"  memory: docexit run failed ({code}):\n{log_path.read_text()[-2000:]}")
        runs.append(
            {
                "pages": count,
                "exit_code": code,
                "rows": rows,
                "peak_rss_mb": peak / 2**20,
                "wall_s": seconds,
            }
        )
        if progress:
            log(f"  memory: {count} pages: peak {peak / 2**20:.0f} MB, {seconds:.1f} s, rc {code}")
    growth = runs[1]["peak_rss_mb"] / runs[0]["peak_rss_mb"] if runs[0]["peak_rss_mb"] else 0.0
    return {"workers": workers, "runs": runs, "growth": growth}


def _count_rows(output: str) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in glob.glob(f"{output}/rows/*.parquet"))
