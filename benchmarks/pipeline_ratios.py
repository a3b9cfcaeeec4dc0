"""The arithmetic of `docexit bench pipeline`: one round's stage figures and ratios from its
runs' per-page seconds, every ratio taken over the same pages on both sides; the rounds' medians
with their ranges; the targets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from docexit.benchmarks.timing import Spread, Target, spread, steady_state

ENGINE_TARGET = 0.9  # pipeline OCR pages/s >= 90% of the bare engine's
CLI_TARGET = 2.0  # bare engine about 2x the command line
INFERENCE_TARGET = 1 / 3  # inference time < 1/3 of OCR time per page
FLOOR_TARGET = 0.9  # end to end >= 90% of "OCR + inference"
MEMORY_FLAT = 1.2  # peak RSS at 10N pages within +20% of N pages counts as flat

DEFINITIONS = {
    "ocr_stage_vs_engine": "pipeline OCR-stage pages/s / bare engine pages/s, both over the pages "
    "the pipeline OCRed (summed engine-call seconds); the same engine, so at most 1 but for noise",
    "engine_vs_cli": "bare engine pages/s / Tesseract CLI pages/s, over the pages both read",
    "inference_vs_ocr": "pipeline inference seconds / pipeline OCR seconds, over the pages the "
    "pipeline OCRed",
    "e2e_vs_bare_loop": "pipeline steady-state end-to-end pages/s / bare tesserocr loop pages/s "
    "(OCR only, every page, same processes)",
    "e2e_vs_floor": 'pipeline steady-state end-to-end pages/s / "OCR + inference" pages/s (the '
    "bare engine's seconds on the pages the pipeline OCRed + the pipeline's inference seconds "
    "on every page, same processes): the floor a pipeline can reach",
}
BUSY_MACHINE = 0.8  # the bare engine got less CPU than this share of its wall clock
BUSY_WARNING = (
    "the bare engine's OCR calls got {share:.0%} of a core over their wall clock: other jobs "
    "shared the CPU, so the wall-clock ratios above carry that much noise (the pipeline calls "
    "the same engine on the same pixels: its OCR-stage ratio is 1 but for noise)"
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


def round_figures(
    cli: dict[str, Any],
    engine: dict[str, Any],
    pipe: dict[str, Any],
    first: dict[str, Any] | None,
    workers: int,
) -> dict[str, float | None]:
    """One round's figures: `cli`/`engine` hold each page's seconds (file name -> s), `pipe`
    each page's OCR and inference ms, `first` the same pipeline on its first pages (start-up)."""
    per_page, bare = pipe["per_page"], engine["seconds"]
    ocred = [n for n, p in per_page.items() if p["ocr_ran"] and n in bare]
    pipe_ocr_s = sum(per_page[n]["ocr_ms"] for n in ocred) / 1000.0
    bare_ocr_s = sum(bare[n] for n in ocred)  # the same pages on both sides
    inference_s = sum(p["inference_ms"] for p in per_page.values()) / 1000.0
    ocred_inference_s = sum(per_page[n]["inference_ms"] for n in ocred) / 1000.0
    both = [n for n in bare if n in cli["seconds"]]
    cli_s, engine_s = sum(cli["seconds"][n] for n in both), sum(bare[n] for n in both)
    bare_loop = _rate(len(bare) * workers, sum(bare.values()))
    floor = _rate(len(per_page) * workers, bare_ocr_s + inference_s)
    startup_s, steady = _steady(first, pipe)
    return {
        "ocr_pages": len(ocred),
        "pipeline_ocr_pps": _rate(len(ocred) * workers, pipe_ocr_s),
        "engine_same_pages_pps": _rate(len(ocred) * workers, bare_ocr_s),
        "ocr_ms_per_page": 1000.0 * pipe_ocr_s / len(ocred) if ocred else None,
        "inference_ms_per_page": 1000.0 * inference_s / len(per_page) if per_page else None,
        "cli_pps": _rate(len(both) * workers, cli_s),
        "bare_loop_pps": bare_loop,
        "floor_pps": floor,
        "pipeline_startup_s": startup_s,
        "pipeline_steady_pps": steady,
        "pipeline_wall_pps": _rate(pipe["rows"], pipe["wall_s"]),
        "skip_ocr_share": 1.0 - len(ocred) / len(per_page) if per_page else None,
        "engine_cpu_share": _over(engine.get("cpu_s"), engine.get("busy_s")),
        "ocr_stage_vs_engine": _over(bare_ocr_s, pipe_ocr_s),
        "engine_vs_cli": _over(cli_s, engine_s),
        "inference_vs_ocr": _over(ocred_inference_s, pipe_ocr_s),
        "e2e_vs_bare_loop": _over(steady, bare_loop),
        "e2e_vs_floor": _over(steady, floor),
    }


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


def check_targets(
    figures: dict[str, Spread | None], memory: dict[str, Any] | None = None
) -> list[Target]:
    """The benchmark's targets, judged on the median ratios."""

    def target(name: str, key: str, ok: Any) -> Target:
        value = figures.get(key)
        return Target(name, None if value is None else bool(ok(value.median)), _text(value))

    targets = [
        target(
            "pipeline OCR stage <= 1.0x the bare engine, same pages (physical)",
            "ocr_stage_vs_engine",
            lambda x: x <= 1.0,
        ),
        target(
            f"pipeline OCR >= {ENGINE_TARGET:.0%} of the bare engine, same pages",
            "ocr_stage_vs_engine",
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
