"""The arithmetic of `docexit bench pipeline`: one round's stage figures and ratios from its
runs' per-page seconds, every ratio taken over the same pages on both sides; the rounds' medians
with their ranges; the targets."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from docexit.benchmarks.timing import Spread, Target, spread, steady_state
from docexit.transforms.dofns import OCR_CPU_US, OCR_WALL_US
from docexit.transforms.inference import ENGINE_BATCH_PAGES

ENGINE_TARGET = 0.9  # pipeline OCR pages/s >= 90% of the bare engine's
CLI_TARGET = 2.0  # bare engine about 2x the command line
INFERENCE_TARGET = 1 / 3  # inference time < 1/3 of OCR time per page
FLOOR_TARGET = 0.9  # end to end >= 90% of "OCR + inference"
MEMORY_FLAT = 1.2  # peak RSS at 10N pages within +20% of N pages counts as flat

PAIRED = "ocr_call_paired_cpu"  # the A/B of `tesseract_refs.paired_calls`
AFTER_WORK = "ocr_call_after_work_cpu"  # the A/B of `ocr_context.after_work_calls`
DEFINITIONS = {
    "ocr_stage_vs_engine_cpu": "bare engine CPU seconds / pipeline OCR-stage CPU seconds, over "
    "the pages the pipeline OCRed: the pipeline's measured around each Tesseract call inside its "
    "OCR DoFn (Beam distribution ocr_cpu_us), the bare loop's around the same calls on the same "
    "pixels; CPU time of the calling thread, which other jobs on the machine inflate less than "
    "wall clock. The same engine, so 1.0 but for noise; the targets use this one, the physical "
    "check (<= 1.0) beyond the A/A noise: how far the bare engine's own CPU seconds on these "
    "pages strayed from their median over the rounds",
    PAIRED: "bare-loop CPU seconds / pipeline-engine CPU seconds per call, both "
    "calls on the same page back to back in one thread (which goes first alternates), over the "
    "pages the pipeline OCRed: the call itself, free of round-to-round noise; median (pooled)",
    AFTER_WORK: "pipeline-engine CPU seconds per call right after another OCR call / right "
    "after the pipeline's work on the previous page (featurize, and classify as a batch of one), "
    "the same page's calls back to back in one thread (which goes first alternates), over the "
    "pages the pipeline OCRed: below 1.0, that work slows Tesseract's next call (evicted caches); "
    "median (pooled)",
    "ocr_stage_vs_engine": "the same in wall-clock seconds (ocr_wall_us): this one also counts "
    "the time other jobs held the CPU while each call waited",
    "engine_vs_cli": "bare engine pages/s / Tesseract CLI pages/s, over the pages both read",
    "inference_vs_ocr": "pipeline inference seconds / pipeline OCR seconds, over the pages the "
    "pipeline OCRed",
    "e2e_vs_bare_loop": "pipeline steady-state end-to-end pages/s / bare tesserocr loop pages/s "
    "(OCR only, every page, same processes)",
    "e2e_vs_floor": 'pipeline steady-state end-to-end pages/s / "OCR + inference" pages/s (the '
    "bare engine's seconds on the pages the pipeline OCRed + the pipeline's inference seconds "
    "on every page, same processes): the floor a pipeline can reach",
}
BUSY_MACHINE = 0.8  # OCR calls that got less CPU than this share of their wall clock
BUSY_WARNING = (
    "its OCR calls got {share:.0%} of a core over their wall clock: other jobs "
    "shared the CPU, so the wall-clock ratios above carry that much noise; the OCR-stage targets "
    "use CPU time, which that sharing stretches only through caches and clock speed"
)
STEADY_STATE = (
    "steady state = (N - k) pages / (wall of the N-page run - wall of a k-page run), both whole "
    "`docexit run` calls; start-up = the k-page run's wall beyond its pages at that rate"
)


def _rate(pages: float, seconds: float) -> float | None:
    return pages / seconds if seconds > 0 else None


def _over(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _steady(first: dict[str, Any] | None, pipe: dict[str, Any]) -> tuple[float | None, ...]:
    """(start-up s, steady pages/s) of the pipeline, None where the two runs cannot tell."""
    if first is None:
        return None, None
    try:
        return steady_state(first["rows"], first["wall_s"], pipe["rows"], pipe["wall_s"])
    except ValueError:  # too few pages for the difference to rise above noise
        return None, None


def _metric_seconds(pipe: dict[str, Any], name: str) -> tuple[int, float]:
    """(pages, seconds) of one of the OCR stage's per-page distributions (microseconds)."""
    dist = (pipe.get("metrics") or {}).get(name)
    return (int(dist["count"]), dist["sum"] / 1e6) if isinstance(dist, dict) else (0, 0.0)


def ocr_stage_figures(
    engine: dict[str, Any], pipe: dict[str, Any], workers: int
) -> dict[str, float | None]:
    """The OCR stage against the bare engine over the pages the pipeline OCRed: the pipeline's
    side is what its OCR DoFn measured around each Tesseract call (its Beam distributions
    OCR_WALL_US and OCR_CPU_US), the bare side the same calls' seconds in the bare loop. None
    when the distributions do not count exactly those pages."""
    per_page, bare, bare_cpu = pipe["per_page"], engine["seconds"], engine.get("cpu_seconds", {})
    ocred = [n for n, p in per_page.items() if p["ocr_ran"]]
    (wall_pages, pipe_s), (cpu_pages, pipe_cpu_s) = (
        _metric_seconds(pipe, OCR_WALL_US),
        _metric_seconds(pipe, OCR_CPU_US),
    )
    measured = wall_pages == cpu_pages == len(ocred) and all(n in bare for n in ocred)
    bare_s = sum(bare.get(n, 0.0) for n in ocred)
    bare_cpu_s = sum(bare_cpu.get(n, 0.0) for n in ocred)
    if not measured:
        pipe_s = pipe_cpu_s = 0.0
    return {
        "ocr_pages": len(ocred),
        "pipeline_ocr_pps": _rate(len(ocred) * workers, pipe_s),
        "engine_same_pages_pps": _rate(len(ocred) * workers, bare_s),
        "ocr_ms_per_page": 1000.0 * pipe_s / len(ocred) if measured and ocred else None,
        "bare_ocr_s": bare_s,
        "engine_ocr_cpu_s": bare_cpu_s if ocred else None,  # for the A/A noise over rounds
        "engine_cpu_share": _over(bare_cpu_s, bare_s),
        "pipeline_ocr_cpu_share": _over(pipe_cpu_s, pipe_s),
        "ocr_stage_vs_engine": _over(bare_s, pipe_s),
        "ocr_stage_vs_engine_cpu": _over(bare_cpu_s, pipe_cpu_s),
    }


def round_figures(
    cli: dict[str, Any],
    engine: dict[str, Any],
    pipe: dict[str, Any],
    first: dict[str, Any] | None,
    workers: int,
) -> dict[str, float | None]:
    """One round's figures: `cli`/`engine` hold each page's seconds (file name -> s), `pipe`
    each page's inference ms and whether it was OCRed, and its OCR stage's metrics (see
    `ocr_stage_figures`); `first` is the same pipeline on its first pages (start-up)."""
    per_page, bare = pipe["per_page"], engine["seconds"]
    ocr = ocr_stage_figures(engine, pipe, workers)
    ocred = [n for n, p in per_page.items() if p["ocr_ran"]]
    pipe_ocr_s = sum(per_page[n]["ocr_ms"] for n in ocred) / 1000.0
    inference_s = sum(p["inference_ms"] for p in per_page.values()) / 1000.0
    ocred_inference_s = sum(per_page[n]["inference_ms"] for n in ocred) / 1000.0
    both = [n for n in bare if n in cli["seconds"]]
    cli_s, engine_s = sum(cli["seconds"][n] for n in both), sum(bare[n] for n in both)
    bare_loop = _rate(len(bare) * workers, sum(bare.values()))
    floor = _rate(len(per_page) * workers, ocr.pop("bare_ocr_s") + inference_s)
    startup_s, steady = _steady(first, pipe)
    batch_sizes = (pipe.get("metrics") or {}).get(ENGINE_BATCH_PAGES) or {}
    other_s = None if not steady else len(per_page) * workers / steady - pipe_ocr_s - inference_s
    return {
        **ocr,
        "inference_ms_per_page": 1000.0 * inference_s / len(per_page) if per_page else None,
        "engine_batches": batch_sizes.get("count"),  # RunInference batches the engine got
        "engine_batch_pages": batch_sizes.get("mean"),  # their mean size in pages
        # steady-state seconds per page outside OCR and inference (decode, vision stage,
        # featurize, writing, the runner), summed over the processes
        "other_ms_per_page": None if other_s is None else 1000.0 * other_s / len(per_page),
        "cli_pps": _rate(len(both) * workers, cli_s),
        "bare_loop_pps": bare_loop,
        "floor_pps": floor,
        "pipeline_startup_s": startup_s,
        "pipeline_steady_pps": steady,
        "pipeline_wall_pps": _rate(pipe["rows"], pipe["wall_s"]),
        "skip_ocr_share": 1.0 - len(ocred) / len(per_page) if per_page else None,
        "engine_vs_cli": _over(cli_s, engine_s),
        "inference_vs_ocr": _over(ocred_inference_s, pipe_ocr_s),
        "e2e_vs_bare_loop": _over(steady, bare_loop),
        "e2e_vs_floor": _over(steady, floor),
    }


def paired_figures(pairs: Sequence[tuple[float, float]]) -> dict[str, float] | None:
    """The paired A/B of `paired_calls`: per page bare CPU s / pipeline-engine CPU s, as the
    median over the pages and pooled (summed seconds over summed seconds); None without pairs."""
    pairs = [(bare, pipe) for bare, pipe in pairs if bare > 0 and pipe > 0]
    if not pairs:
        return None
    ratios = [bare / pipe for bare, pipe in pairs]
    pooled = sum(b for b, _ in pairs) / sum(p for _, p in pairs)
    return {"pages": len(pairs), "median": statistics.median(ratios), "pooled": pooled}


def summarize_rounds(rounds: Sequence[dict[str, float | None]]) -> dict[str, Spread | None]:
    """Each figure's median and range over the rounds that measured it."""
    keys = rounds[0].keys() if rounds else ()
    out: dict[str, Spread | None] = {}
    for key in keys:
        values = [r[key] for r in rounds if r[key] is not None]
        out[key] = spread(values) if values else None
    return out


def counts_add_up(runs: dict[str, Any], pages: int) -> dict[str, bool]:
    """Every run accounts for every page: recognised + failed, or rows + dead letters."""
    cli, engine, pipe = runs["cli"], runs["engine"], runs["pipeline"]
    return {
        "cli": cli["pages"] + cli["failures"] == pages,
        "engine": engine["pages"] + engine["failures"] == pages,
        "pipeline": pipe["rows"] + pipe["dead_letters"] == pages == pipe["pages_in"],
    }


def _median(value: Spread | None) -> float | None:
    return None if value is None else value.median


def aa_noise(engine_cpu_s: Spread | None) -> float | None:
    """A/A noise: how far the bare engine's CPU seconds on the same pages (the same calls, timed
    again each round) strayed from their median, as a share of it; None under 2 rounds."""
    if engine_cpu_s is None or engine_cpu_s.n < 2 or engine_cpu_s.median <= 0:
        return None
    m = engine_cpu_s.median
    return max(engine_cpu_s.high - m, m - engine_cpu_s.low) / m


def physical_target(figures: dict[str, Spread | None]) -> Target:
    """The OCR stage at most 1.0x the bare engine in CPU time, beyond the A/A noise: a median
    above 1.0 by less than the bare engine differs from itself round to round is not told apart
    from 1.0 (one round: no allowance)."""
    value, noise = figures.get("ocr_stage_vs_engine_cpu"), aa_noise(figures.get("engine_ocr_cpu_s"))
    name = "pipeline OCR stage <= 1.0x the bare engine, same pages, CPU time, beyond A/A noise"
    if value is None:
        return Target(name, None, _text(value))
    shown = "no A/A noise (1 round)" if noise is None else f"A/A noise {noise:.1%}"
    return Target(name, value.median <= 1.0 + (noise or 0.0), f"{value.text()}; {shown}")


def check_targets(
    figures: dict[str, Spread | None], memory: dict[str, Any] | None = None
) -> list[Target]:
    """The benchmark's targets, judged on the median ratios."""

    def target(name: str, key: str, ok: Any) -> Target:
        value = figures.get(key)
        return Target(name, None if value is None else bool(ok(value.median)), _text(value))

    targets = [
        physical_target(figures),
        target(
            f"pipeline OCR >= {ENGINE_TARGET:.0%} of the bare engine, same pages, CPU time",
            "ocr_stage_vs_engine_cpu",
            lambda x: x >= ENGINE_TARGET,
        ),
        target(
            f"bare engine >= {CLI_TARGET:g}x the command line",
            "engine_vs_cli",
            lambda x: x >= CLI_TARGET,
        ),  # fmt: skip
        target(
            "inference < 1/3 of OCR time per page",
            "inference_vs_ocr",
            lambda x: x < INFERENCE_TARGET,
        ),  # fmt: skip
        target(
            f'end to end >= {FLOOR_TARGET:.0%} of "OCR + inference"',
            "e2e_vs_floor",
            lambda x: x >= FLOOR_TARGET,
        ),
    ]
    if memory:
        ok = all(r["exit_code"] == 0 and r["rows"] == r["pages"] for r in memory["runs"])
        targets.append(
            Target(
                f"peak RSS flat from N to 10N pages (< {MEMORY_FLAT:g}x)",
                memory["growth"] < MEMORY_FLAT if ok else None,
                f"{memory['growth']:.2f}x",
            )
        )
    return targets


def _text(value: Spread | None) -> str:
    return "not measured" if value is None else value.text()
