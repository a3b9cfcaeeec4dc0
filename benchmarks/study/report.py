"""The Markdown report of `docexit study`, written from a `StudyResult` (nothing is typed by
hand): setup, best design, designs at full depth, Pareto front, selected policies, calibration
effect, simulated against measured savings, and every threshold."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from docexit.benchmarks.study.grid import BASE
from docexit.benchmarks.study.run import StudyResult
from docexit.benchmarks.study.stats import pareto_mask
from docexit.benchmarks.study.sweep import (
    FULL_DEPTH,
    PointRow,
    keeps_accuracy,
    noise_note,
    select_on_validation,
)
from docexit.models.factory import is_docexit_folder
from docexit.models.training.metrics import LEVEL

PARETO_PNG = "study_pareto.png"
CALIBRATION_PNG = "study_calibration.png"
SIM_VS_MEASURED_PNG = "study_simulated_vs_measured.png"


def _pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}"


def _x(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _exit_names(exits: Sequence[dict[str, Any]]) -> str:
    return ", ".join(f"{e['source']}@{e['layer']}" for e in exits)


def _speed_cell(row: PointRow, bs: int) -> str:
    """Measured speed-up with its range over repeats (and seeds), e.g. `1.52x (1.40-1.61)`."""
    low_high = row.timing.get("speedup_range", {}).get(str(bs))
    if row.measured_speedup(bs) is None or not low_high:
        return _x(row.measured_speedup(bs))
    return f"{_x(row.measured_speedup(bs))} ({low_high[0]:.2f}-{low_high[1]:.2f})"


def _measured_saving(row: PointRow, bs: int) -> str:
    s = row.measured_speedup(bs)
    return "-" if s is None else f"{100 * (1 - 1 / s):.1f}"


def _design_rows(result: StudyResult) -> list[list[Any]]:
    out = []
    for d in result.designs:
        full = d.full_depth()
        before = np.mean([e["ece_before"] for e in d.calibration[:-1]] or [np.nan])
        after = np.mean([e["ece_after"] for e in d.calibration[:-1]] or [np.nan])
        compared = (
            "reference"
            if d.design.name == BASE.name
            else noise_note(full.intervals["vs_base_full"])
        )
        out.append(
            [
                d.design.name + (f" (= {d.alias_of})" if d.alias_of else ""),
                d.design.varies,
                d.design.head,
                "CLS only" if d.design.modality == "none" else d.design.modality,
                d.design.placement,
                d.design.strategy,
                _exit_names(d.exits[:-1]),
                _pct(full.accuracy),
                compared,
                _pct(full.val_accuracy),
                f"{100 * before:.1f} -> {100 * after:.1f}",
                f"{np.mean([r.train_seconds for r in d.runs]):.0f}",
            ]
        )
    return out


def _policy_cell(row: PointRow) -> str:
    policy = row.policies[0]
    if "thresholds" in policy:
        return "[" + ", ".join(f"{t:.3g}" for t in policy["thresholds"][:-1]) + "]"
    if "threshold" in policy:
        return f"{policy['threshold']:g}"
    if "patience" in policy:
        return f"patience {policy['patience']}"
    return "-"


def _best_section(result: StudyResult) -> list[str]:
    s = result.settings
    best = result.best
    bs = s.primary_batch
    lines = ["## Best design", ""]
    if best is None:
        return lines + [
            f"No timed early-exit point keeps the base design's full-depth accuracy (rule below) "
            f"with a measured speed-up above 1 at batch {bs}: **ship the base design at full depth**.",
            "",
        ]
    design = next(d for d in result.designs if d.design.name == best.design)
    lines += [
        f"**{best.design}** with **{best.label}** (policy `{json.dumps(best.policies[0])}`): test accuracy "
        f"{_pct(best.accuracy)}% against {_pct(result.base.full_depth().accuracy)}% for the base design at "
        f"full depth ({noise_note(best.intervals['vs_base_full'])}) and {_pct(best.full_accuracy)}% "
        f"for its own model at full depth ({noise_note(best.intervals['vs_own_full'])}), measured speed-up "
        f"**{_x(best.measured_speedup(bs))} at batch {bs}**"
        + "".join(
            f", {_x(best.measured_speedup(b))} at batch {b}" for b in s.batch_sizes if b != bs
        )
        + f"; simulated saving {_pct(best.saving)}% (paper's measure), mean exit layer "
        f"{best.mean_exit_layer:.2f} of {result.num_layers}, ECE {_pct(best.ece)}%.",
        "",
        f"Model: `{design.runs[0].model_dir}` (exits {_exit_names(design.exits)}, "
        f"head {design.design.head}, strategy {design.design.strategy}); temperatures "
        f"{'fitted on validation' if best.calibrated else 'not applied (all 1.0)'}. `study.json` (written next "
        "to this report) holds it under `best`.",
        "",
        "Caveat: the design and threshold are chosen among points selected on validation, but the "
        "choice between them uses test figures; on a small test split treat the winner's margin "
        "over its neighbours on the Pareto front as optimistic.",
        "",
    ]
    return lines


def _shipped_section(result: StudyResult) -> list[str]:
    """Whether the shipped model is the winner's design, and its own policy's figures."""
    check = result.shipped
    if check is None:
        return []
    best = result.best
    winner = best.design if best is not None else BASE.name
    if winner in check.designs:
        verdict = f"matches the best design, **{winner}**"
    elif check.designs:
        verdict = f"matches **{', '.join(check.designs)}**, not the best design ({winner})"
    else:
        verdict = f"matches none of the study's designs (the best is {winner})"
    strategy = check.strategy or "not recorded"
    bs = result.settings.batch_sizes
    return [
        "## The shipped model",
        "",
        f"`{check.model_dir}` (exits {', '.join(check.exits)}; strategy {strategy}) {verdict}. Its policy `{json.dumps(check.policy)}` was chosen on its own validation split "
        "by the product's rule (`docexit train --policy`); which policy family saves most depends "
        "on a model's trained exits, so the study picks the design and each model picks its policy. "
        "It is trained on more pages for longer than the study's runs: compare its early-exit loss "
        "and speed-up, not its absolute accuracy.",
        "",
        *_table(
            [
                "test pages",
                "full depth (%)",
                "early exit (%)",
                "vs own full depth",
                "mean exit layer",
                *[f"speed-up bs {b}" for b in bs],
                "keeps accuracy",
            ],
            [
                [
                    check.n,
                    _pct(check.accuracy_full),
                    _pct(check.accuracy_early_exit),
                    noise_note(check.vs_own_full),
                    f"{check.mean_exit_layer:.2f}",
                    *[_x(check.speedup.get(str(b))) for b in bs],
                    "yes" if check.keeps_accuracy else "no",
                ]
            ],
        ),
        "",
    ]


def _pareto_rows(result: StudyResult) -> list[list[Any]]:
    bs = result.settings.primary_batch
    timed = [r for r in result.rows if r.measured_speedup(bs) is not None]
    mask = pareto_mask([r.measured_speedup(bs) for r in timed], [r.accuracy for r in timed])
    front = sorted(
        (r for r, m in zip(timed, mask, strict=True) if m), key=lambda r: r.measured_speedup(bs)
    )
    return [
        [
            r.design,
            r.label,
            _pct(r.accuracy),
            noise_note(r.intervals["vs_base_full"]),
            noise_note(r.intervals["vs_own_full"]),
            *[_x(r.measured_speedup(b)) for b in result.settings.batch_sizes],
            "yes" if keeps_accuracy(r, result.settings.tolerance) else "no",
        ]
        for r in front
    ]


def _selected_rows(result: StudyResult) -> list[list[Any]]:
    out = []
    for d in result.designs:
        for calibrated in (True, False):
            for kind in result.settings.policies:
                row = select_on_validation(d.rows, kind, calibrated)
                if row is None:
                    out.append(
                        [d.design.name, kind, "cal" if calibrated else "uncal", "no early exit"]
                        + ["-"] * (8 + len(result.settings.batch_sizes))
                    )
                    continue
                out.append(
                    [
                        d.design.name,
                        kind,
                        "cal" if calibrated else "uncal",
                        f"{row.param:g}",
                        _policy_cell(row),
                        _pct(row.accuracy),
                        noise_note(row.intervals["vs_own_full"]),
                        f"{row.mean_exit_layer:.2f}",
                        _pct(row.saving),
                        *[_measured_saving(row, b) for b in result.settings.batch_sizes],
                        _pct(row.ece),
                        _pct(row.val_saving),
                        _pct(row.val_accuracy),
                    ]
                )
    return out


def _calibration_lines(result: StudyResult) -> list[str]:
    rows, lowered, changes = [], 0, []
    for d in result.designs:
        exits = d.calibration[:-1] or d.calibration
        before = float(np.mean([e["ece_before"] for e in exits]))
        after = float(np.mean([e["ece_after"] for e in exits]))
        lowered += after < before
        cells = [
            d.design.name,
            f"{100 * before:.1f}",
            f"{100 * after:.1f}",
            f"{100 * d.calibration[-1]['ece_before']:.1f} -> {100 * d.calibration[-1]['ece_after']:.1f}",
        ]
        for kind in ("max_prob", "per_exit_heuristic"):
            for calibrated in (True, False):
                row = select_on_validation(d.rows, kind, calibrated)
                cells.append(
                    "no exit" if row is None else f"{_pct(row.accuracy)} / {_pct(row.saving)}"
                )
            cal = select_on_validation(d.rows, kind, True)
            uncal = select_on_validation(d.rows, kind, False)
            changes.append((cal.saving if cal else 0.0) - (uncal.saving if uncal else 0.0))
        rows.append(cells)
    header = [
        "design",
        "mean exit ECE before (%)",
        "after (%)",
        "final exit ECE (%)",
        "max_prob cal: acc / sim. saving",
        "max_prob uncal",
        "heuristic cal",
        "heuristic uncal",
    ]
    return [
        f"Temperature scaling (one temperature per exit, fitted on validation) lowered the mean test "
        f"ECE of the intermediate exits in {lowered} of {len(result.designs)} designs. At the "
        f"validation-selected max_prob and per-exit heuristic points it changed the simulated saving "
        f"by {100 * float(np.mean(changes)):+.1f} points on average (calibrated minus uncalibrated; "
        f"range {100 * min(changes):+.1f} to {100 * max(changes):+.1f}).",
        "",
        f"![calibration effect]({CALIBRATION_PNG})",
        "",
        *_table(header, rows),
    ]


def _sim_vs_measured_lines(result: StudyResult) -> list[str]:
    s = result.settings
    every = [r for r in result.rows if r.kind != FULL_DEPTH and "speedup" in r.timing]
    timed = [r for r in every if not r.timing.get("shared")]  # each measurement once
    if not timed:
        return ["No early-exit point was timed.", ""]
    simulated = np.array([1 / max(1e-9, 1 - r.saving) for r in timed])
    ideal = np.array([r.timing["ideal_speedup"] for r in timed])
    lines = [f"![simulated vs measured]({SIM_VS_MEASURED_PNG})", ""]
    summary = [
        f"Over {len(timed)} timed measurements the paper's simulated speed-up (every exit slot an equal "
        f"share of the forward) has median {np.median(simulated):.2f}x; from measured layer costs "
        f"(embeddings, every layer, every exit head run) the same exits would give "
        f"{np.median(ideal):.2f}x"
    ]
    for bs in s.batch_sizes:
        measured = np.array([r.measured_speedup(bs) for r in timed])
        summary.append(
            f"measured at batch {bs}: median {np.median(measured):.2f}x, "
            f"{np.median(measured / simulated):.2f} of the simulated figure"
        )
    lines.append("; ".join(summary) + ".")
    agree = [r.timing.get("exit_agreement", 1.0) for r in timed]
    lines += [
        "",
        "Why they differ: exit heads cost time the uniform measure ignores (every head at a depth "
        "runs, whether or not pages leave there); layer-0 modality exits are not free (the "
        "embeddings and patch embeddings run first); at small batches per-step overhead (one "
        "host synchronisation per exit step, Python scheduling) does not shrink with the pages; "
        f"and wall-clock noise on a shared machine. The engine's exits agree with the stored-logit "
        f"replay on {100 * min(agree):.1f}-{100 * max(agree):.1f}% of pages (differences come from "
        "float rounding under different padding). Points marked (shared) leave every test page "
        "at the same exit as another timed point of their design and reuse its measurement; the "
        "medians above count each measurement once.",
        "",
    ]
    header = [
        "design",
        "point",
        "simulated",
        "ideal (layer costs)",
        *[f"measured bs {b} (range)" for b in s.batch_sizes],
        "test acc (replay)",
        *[f"engine acc bs {b}" for b in s.batch_sizes],
        "exit agreement",
    ]
    rows = [
        [
            r.design,
            r.label + (" (shared)" if r.timing.get("shared") else ""),
            _x(1 / max(1e-9, 1 - r.saving)),
            _x(r.timing["ideal_speedup"]),
            *[_speed_cell(r, b) for b in s.batch_sizes],
            _pct(r.accuracy),
            *[_pct(r.timing.get("engine_accuracy", {}).get(str(b))) for b in s.batch_sizes],
            _pct(r.timing.get("exit_agreement")),
        ]
        for r in every
    ]
    return lines + _table(header, rows)


def _sweep_details(result: StudyResult) -> list[str]:
    bs_list = result.settings.batch_sizes
    header = [
        "policy",
        "param",
        "test acc",
        "vs own full depth",
        "mean exit layer",
        "sim. saving",
        *[f"meas. saving bs {b}" for b in bs_list],
        "ECE",
        "val acc",
        "val saving",
    ]
    lines = []
    for d in result.designs:
        rows = [r for r in d.rows if r.calibrated]
        lines += [f"<details><summary>{d.design.name}: {len(rows)} calibrated points</summary>", ""]
        lines += _table(
            header,
            [
                [
                    r.kind,
                    f"{r.param:g}",
                    _pct(r.accuracy),
                    noise_note(r.intervals["vs_own_full"]),
                    f"{r.mean_exit_layer:.2f}",
                    _pct(r.saving),
                    *[_measured_saving(r, b) for b in bs_list],
                    _pct(r.ece),
                    _pct(r.val_accuracy),
                    _pct(r.val_saving),
                ]
                for r in rows
            ],
        )
        lines += ["</details>", ""]
    return lines


def _model_description(result: StudyResult) -> str:
    """The model line of the setup: tiny random model, or the backbone every design shares."""
    s = result.settings
    model = (
        f"tiny LayoutLMv3 (random init, {s.layers} layers, hidden {s.hidden}, {s.heads} heads, "
        f"patch {s.patch_size})"
        if s.init == "random"
        else f"LayoutLMv3 architecture, backbone `{s.init}` ({result.num_layers} layers)"
    )
    if is_docexit_folder(s.init):
        model += (
            ", the trained backbone of that docexit model shared by every design (its exits "
            "dropped; each design trains new exits, and the backbone with them, by its own "
            "strategy). Designs so differ in their exits and how they train them, not in "
            "pre-training; the shared backbone was trained with that model's own exits, which "
            "may favour designs like them"
        )
    return model


def _header_lines(result: StudyResult, command: str) -> list[str]:
    """Title, how the report was made, the headline."""
    s = result.settings
    base_full = result.base.full_depth()
    bs = s.primary_batch
    return [
        "# docexit study: early-exit designs, measured",
        "",
        f"Generated by `{command}` ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {result.seconds / 60:.1f} min "
        f"on {result.device}, {result.threads} torch thread(s); {result.trained} run(s) trained, "
        f"{result.cached} from the cache). Do not edit: rerun the command.",
        "",
        f"Base design at full depth: **{_pct(base_full.accuracy)}%** test accuracy on "
        f"{result.sizes['test']} pages. "
        + (
            f"Best: **{result.best.design}, {result.best.label}**, {_pct(result.best.accuracy)}% "
            f"at {_x(result.best.measured_speedup(bs))} measured speed-up (batch {bs})."
            if result.best
            else "No early-exit point beat full depth under the accuracy rule."
        ),
        "",
    ]


def _setup_lines(result: StudyResult) -> list[str]:
    """Data, model, designs, policies, timing and statistics."""
    s = result.settings
    model = _model_description(result)
    return [
        "## Setup",
        "",
        f"- Data: `{result.corpus}`: {result.sizes['train']} train, {result.sizes['validation']} "
        f"validation, {result.sizes['test']} test pages"
        + (
            f" (generated by the synthetic generator, its own words and boxes, no OCR; classes "
            f"{', '.join(s.extra.get('classes', []))})."
            if s.extra.get("generated")
            else "."
        ),
        f"- Model: {model}; {s.max_length} text tokens, {s.image_size} px page image. Training: up "
        f"to {s.epochs} epochs (early stopping, patience {s.patience}), batch {s.batch_size}, lr "
        f"{s.lr_new:g} new / {s.lr_pretrained:g} pretrained, gamma {s.gamma}, "
        f"{s.seeds} seed(s) per design{f', at most {s.max_train_pages} train pages' if s.max_train_pages else ''}.",
        f"- Designs: one factor at a time around the base design (ramp head, layer CLS only, "
        f"quarter placement, joint training), plus {sum(d.design.varies == 'combination' for d in result.designs)} "
        "combinations (modality exits on the concatenated sequence with gates, and with entropy "
        "regularisation: an approximation of the paper's multimodal design, whose exact table "
        "entries were not available offline). Each design is trained once per seed.",
        f"- Policies, swept on stored validation logits with and without temperature scaling: "
        f"{', '.join(s.policies)} (grids of their classes in `models/policies/`). A policy's thresholds are "
        'built on validation and evaluated on test. "Selected" = highest validation saving '
        "with validation accuracy not below full depth.",
        f"- Timing: the engine (`models/engine.py`) in `shrink_refill` mode against the same model "
        f"at full depth with length bucketing (`full_bucketed`), at batch sizes "
        f"{', '.join(map(str, s.batch_sizes))}, on the test pages"
        + (f" ({s.time_pages_bs1} spread over the split at batch 1)" if s.time_pages_bs1 else "")
        + (f" ({s.time_pages} at larger batches)" if s.time_pages else "")
        + f". Each of {s.repeats} repeat(s) times full depth, then every point (a page set whose "
        f"full-depth run is shorter than {s.min_seconds:g} s is timed several copies over); a "
        "speed-up is the median over repeats of point / full depth within a repeat. Timed per design: the selected point of every "
        f"(policy, calibration) and up to {s.time_points} points of the validation Pareto front; "
        "points that send every test page to the same exit as a timed one share its figures.",
        f"- Statistics: paired bootstrap over test pages ({s.bootstrap} resamples, {int(100 * LEVEL)}% "
        "percentile intervals; with several seeds each page's correctness is averaged over seeds "
        "first, so the interval covers page sampling, not training noise). A difference is "
        "*within noise* when its interval contains 0. A point *keeps full-depth accuracy* when "
        f"its test accuracy is at most {100 * s.tolerance:.1f} points below its own model at full "
        'depth (the point estimate: on a small test split "within noise" admits losses of several '
        "points) and not significantly below the base design at full depth.",
        "",
    ]


def _design_and_pareto_lines(result: StudyResult) -> list[str]:
    """The designs at full depth and the Pareto front."""
    s = result.settings
    bs = s.primary_batch
    return [
        "## Designs at full depth",
        "",
        *_table(
            [
                "design",
                "varies",
                "head",
                "exit input",
                "placement",
                "strategy",
                "exits",
                "test acc (%)",
                "vs base (pts, 95% CI)",
                "val acc (%)",
                "exit ECE before -> after (%)",
                "train s (wall)",
            ],
            _design_rows(result),
        ),
        "## Pareto front: accuracy vs measured speed-up",
        "",
        f"![Pareto front]({PARETO_PNG})",
        "",
        f"Globally Pareto-optimal timed points (test accuracy vs measured speed-up at batch {bs}):",
        "",
        *_table(
            [
                "design",
                "point",
                "test acc (%)",
                "vs base full depth",
                "vs own full depth",
                *[f"speed-up bs {b}" for b in s.batch_sizes],
                "keeps accuracy",
            ],
            _pareto_rows(result),
        ),
    ]


def _policy_lines(result: StudyResult) -> list[str]:
    """The thresholds each policy selected on validation."""
    s = result.settings
    return [
        "## Policies: thresholds selected on validation",
        "",
        "Savings in %: simulated = the paper's measure; measured = 1 - 1/speed-up of the engine over "
        'full depth (bucketed). "vs own full depth" compares with the same model\'s final classifier.',
        "",
        *_table(
            [
                "design",
                "policy",
                "calibration",
                "param",
                "threshold(s)",
                "test acc (%)",
                "vs own full depth",
                "mean exit layer",
                "sim. saving",
                *[f"meas. saving bs {b}" for b in s.batch_sizes],
                "ECE (%)",
                "val saving",
                "val acc",
            ],
            _selected_rows(result),
        ),
    ]


def markdown(result: StudyResult, command: str) -> str:
    """The whole report."""
    lines = [
        *_header_lines(result, command),
        *_setup_lines(result),
        *_best_section(result),
        *_shipped_section(result),
        *_design_and_pareto_lines(result),
        *_policy_lines(result),
        "## Calibration effect",
        "",
        *_calibration_lines(result),
        "## Simulated against measured savings",
        "",
        *_sim_vs_measured_lines(result),
        "## Every threshold (calibrated; uncalibrated rows in `study.json` and `study_rows.csv`)",
        "",
        *_sweep_details(result),
        "## Limits",
        "",
        "- Intervals cover the choice of test pages only; differences between designs also carry "
        "training noise (use `--seeds N` to average it).",
        "- Speed figures come from one machine; on a shared CPU they move by several percent "
        "between runs (`--repeats` takes the median).",
        "- The quick grid's tiny model and generated pages show that the study runs, not how "
        "LayoutLMv3-size models behave.",
        "",
    ]
    return "\n".join(lines)


__all__ = ["CALIBRATION_PNG", "PARETO_PNG", "SIM_VS_MEASURED_PNG", "markdown"]
