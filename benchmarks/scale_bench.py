"""`docexit bench scale`: archive-scale behaviour of `docexit run`.

1. Nightly rerun: `--files` small page files, of which `--new` arrive after the first run. The
   first run classifies the others; the nightly run (`--skip-existing`) sees all of them. Printed:
   bytes read from skipped files (bytes read minus the new files' bytes; goal 0), wall time of
   each run, and the peak RSS of each run's process tree (DirectRunner: the worker is the process).
   `--seed-first` replaces the first run by the manifest it would write (from the listing, every
   file done): the nightly run at archive size without classifying the archive first.
2. Sink: `--rows` synthetic page rows through the Parquet sink (`transforms.sinks.WriteParquet`)
   in a fresh process, and a tenth of them; peak RSS above the same process writing no rows.

Each run is a fresh subprocess (`python -m docexit.benchmarks.scale_bench --child ...`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

MB = 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--files", type=int, default=100_000, help="files in the archive")
    parser.add_argument("--new", type=int, default=100, help="files added before the rerun")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows through the sink")
    parser.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--model", default=None, help="checkpoint (default: bundled)")
    parser.add_argument("--json", default=None, metavar="F", help="write the report here")
    parser.add_argument("--skip-rerun", action="store_true", help="only the sink part")
    parser.add_argument("--skip-sink", action="store_true", help="only the rerun part")
    parser.add_argument(
        "--seed-first",
        action="store_true",
        help="write the first run's manifest from the listing instead of running it",
    )


def write_pages(folder: Path, start: int, count: int) -> int:
    """`count` small distinct PNG pages (a number drawn on white); returns their bytes."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for i in range(start, start + count):
        image = Image.new("L", (96, 32), 255)
        ImageDraw.Draw(image).text((4, 10), f"{i:06d}", fill=0)
        path = folder / f"p{i:06d}.png"
        image.save(path)
        total += path.stat().st_size
    return total


def _child(argv: list[str], stats: Path) -> dict[str, Any]:
    """Run a child mode in a fresh process; (exit code, peak tree RSS, seconds) + its stats."""
    from docexit.benchmarks.pipeline_memory import run_with_peak_rss

    command = [sys.executable, "-m", "docexit.benchmarks.scale_bench", "--child", *argv]
    code, peak, seconds = run_with_peak_rss(command, stdout=subprocess.DEVNULL)
    if code != 0:
        raise RuntimeError(f"{' '.join(command)} failed with exit code {code}")
    return {"peak_rss_mb": peak / MB, "seconds": seconds, **json.loads(stats.read_text())}


def seed_first_run(archive: Path, output: Path) -> dict[str, Any]:
    """The output folder a first run over `archive` would leave, manifest and `_SUCCESS` only."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from apache_beam.io.filesystems import FileSystems

    from docexit.transforms.existing import MANIFEST_SCHEMA, fingerprint

    (result,) = FileSystems.match([str(archive / "*.png")])
    prints = [(m.path, *fingerprint(m)) for m in result.metadata_list]
    (output / "manifest").mkdir(parents=True, exist_ok=True)
    columns = list(zip(*prints, strict=True)) if prints else [[], [], []]
    table = pa.table(
        {
            "source": list(columns[0]),
            "size": list(columns[1]),
            "mtime": list(columns[2]),
            "content_hash": [None] * len(prints),
            "dead_letters": [0] * len(prints),
            "run_id": ["seeded"] * len(prints),
        },
        schema=MANIFEST_SCHEMA,
    )
    pq.write_table(table, output / "manifest" / "part-00000-of-00001.parquet")
    (output / "_SUCCESS").write_text(json.dumps({"run_id": "seeded"}))
    return {"seeded": True, "pages": len(prints), "seconds": 0.0, "peak_rss_mb": 0.0}


def rerun_part(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """First run over files - new, then the nightly run over all with --skip-existing."""
    archive = work / "archive"
    write_pages(archive, 0, args.files - args.new)
    model = ["--model", args.model] if args.model else []
    common = ["--input", str(archive / "*.png"), *model, "--progress-every", "0"]
    if args.seed_first:
        first = seed_first_run(archive, work / "n" / "d1")
    else:
        first = _child(["run", str(work / "s1.json"), *common, "--output", str(work / "n/d1")],
                       work / "s1.json")  # fmt: skip
    new_bytes = write_pages(archive, args.files - args.new, args.new)
    nightly_argv = [*common, "--output", str(work / "n/d2"), "--skip-existing"]
    nightly = _child(["run", str(work / "s2.json"), *nightly_argv], work / "s2.json")
    return {
        "files": args.files,
        "new": args.new,
        "first": first,
        "nightly": nightly,
        "bytes_read_from_skipped_files": nightly["metrics"].get("bytes_read", 0) - new_bytes,
        "nightly_vs_first_wall": nightly["seconds"] / first["seconds"]
        if first["seconds"]
        else None,
    }


def sink_part(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Peak RSS of the sink for 0, rows/10 and rows rows, each in a fresh process."""
    runs = {}
    for rows in (0, args.rows // 10, args.rows):
        stats = work / f"sink-{rows}.json"
        runs[rows] = _child(["sink", str(stats), str(rows), str(work / f"sink-{rows}")], stats)
    base = runs[0]["peak_rss_mb"]
    return {
        "rows": {str(k): v for k, v in runs.items()},
        "above_baseline_mb": {str(k): v["peak_rss_mb"] - base for k, v in runs.items() if k},
    }


def _fake_row(i: int) -> dict[str, Any]:
    return {
        "source": f"gs://archive/box{i // 1000:05d}/page{i:09d}.tif",
        "page": i % 7,
        "content_hash": f"{i:064x}",
        "label": "letter",
        "label_id": 0,
        "confidence": 0.9,
        "exit_stage": "encoder",
        "exit_layer": 2,
        "exit_index": 1,
        "num_layers": 6,
        "exit_policy": "entropy",
        "exit_threshold": 0.2,
        "ocr_ran": True,
        "word_count": 120,
        "token_count": 192,
        "ocr_ms": 412.5,
        "inference_ms": 3.25,
        "model_id": "bench",
    }


def child_sink(stats: str, rows: int, folder: str) -> None:
    """Write `rows` fake page rows with the pipeline's sink (DirectRunner)."""
    import apache_beam as beam

    from docexit.transforms.sinks import ROWS_SCHEMA, WriteParquet

    chunks = [(start, min(start + 10_000, rows)) for start in range(0, rows, 10_000)]
    with beam.Pipeline() as pipeline:
        _ = (
            pipeline
            | beam.Create(chunks or [(0, 0)])
            | beam.FlatMap(lambda c: (_fake_row(i) for i in range(*c)))
            | WriteParquet(f"{folder}/part", ROWS_SCHEMA)
        )
    written = sum(p.stat().st_size for p in Path(folder).glob("*.parquet"))
    Path(stats).write_text(json.dumps({"written_mb": written / MB}))


def child_run(stats: str, argv: list[str]) -> None:
    """`docexit run` in this process; its summary and metrics as JSON."""
    from docexit.pipeline.run import run

    summary = run(argv)
    report = {"pages": summary.pages, "dead_letters": summary.total_dead_letters}
    report["metrics"] = {k: v for k, v in summary.metrics.items() if isinstance(v, int)}
    Path(stats).write_text(json.dumps(report))


def print_report(report: dict[str, Any]) -> None:
    if "rerun" in report:
        r = report["rerun"]
        first, nightly = r["first"], r["nightly"]
        print(f"nightly rerun: {r['files']} files, {r['new']} new")
        if first.get("seeded"):
            print(f"  first run:   seeded from the listing ({first['pages']} files done)")
        else:
            print(f"  first run:   {first['seconds']:.1f} s, {first['pages']} pages, "
                  f"peak RSS {first['peak_rss_mb']:.0f} MB")  # fmt: skip
        ratio = r["nightly_vs_first_wall"]
        share = f" ({ratio:.1%} of the first)" if ratio is not None else ""
        print(f"  nightly run: {nightly['seconds']:.1f} s{share}, {nightly['pages']} pages, "
              f"{nightly['metrics'].get('skipped_existing', 0)} files skipped, "
              f"peak RSS {nightly['peak_rss_mb']:.0f} MB")  # fmt: skip
        print(f"  bytes read from skipped files: {r['bytes_read_from_skipped_files']}")
    if "sink" in report:
        s = report["sink"]
        for rows, above in s["above_baseline_mb"].items():
            print(f"sink: {int(rows):,} rows, peak RSS {above:.0f} MB above the process baseline "
                  f"({s['rows']['0']['peak_rss_mb']:.0f} MB)")  # fmt: skip


def main(args: argparse.Namespace) -> int:
    if not 0 < args.new <= args.files:
        raise SystemExit("docexit bench scale: error: need 0 < --new <= --files")
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as temporary:
        work = Path(args.work or temporary)
        work.mkdir(parents=True, exist_ok=True)
        report: dict[str, Any] = {}
        if not args.skip_rerun:
            report["rerun"] = rerun_part(args, work)
        if not args.skip_sink:
            report["sink"] = sink_part(args, work)
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        mode, stats, *rest = sys.argv[2:]
        if mode == "sink":
            child_sink(stats, int(rest[0]), rest[1])
        else:
            child_run(stats, rest)
        sys.exit(0)
    sys.exit(main(argparse.ArgumentParser().parse_args()))
