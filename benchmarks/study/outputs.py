"""The files `docexit study` writes next to its report: the PNGs, `study.json` (designs,
per-threshold rows, the chosen best with its model config and policy, for a later step to ship)
and `study_rows.csv`; and the report itself (`study_report.markdown`)."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from docexit.benchmarks.study.plots import (
    plot_calibration,
    plot_pareto,
    plot_simulated_vs_measured,
)
from docexit.benchmarks.study.report import (
    CALIBRATION_PNG,
    PARETO_PNG,
    SIM_VS_MEASURED_PNG,
    markdown,
)
from docexit.benchmarks.study.run import DesignResult, StudyResult


def study_json(result: StudyResult, command: str, report: Path) -> dict[str, Any]:
    """Machine-readable results; `best` is what a later step ships."""
    best = result.best
    best_entry = None
    if best is not None:
        design = next(d for d in result.designs if d.design.name == best.design)
        run = design.runs[0]
        best_entry = {
            "design": best.design,
            "factors": design.design.factors(),
            "exits": design.exits,
            "model_dir": str(run.model_dir),
            "model_dirs": [str(r.model_dir) for r in design.runs],
            "calibrated": best.calibrated,
            "temperatures": run.temperatures if best.calibrated else [1.0] * len(run.temperatures),
            "policy": best.policies[0],
            "policy_kind": best.kind,
            "param": best.param,
            "train_command": _train_command(result, design),
            "figures": best.to_dict(),
        }
    return {
        "command": command,
        "report": str(report),
        "settings": asdict(result.settings),
        "corpus": str(result.corpus),
        "sizes": result.sizes,
        "num_layers": result.num_layers,
        "device": result.device,
        "threads": result.threads,
        "seconds": result.seconds,
        "base_full_accuracy": result.base.full_depth().accuracy,
        "shipped": asdict(result.shipped) if result.shipped else None,
        "designs": [
            {
                "name": d.design.name,
                "varies": d.design.varies,
                "factors": d.design.factors(),
                "exits": d.exits,
                "alias_of": d.alias_of,
                "runs": [
                    {
                        "key": r.key,
                        "seed": r.seed,
                        "model_dir": str(r.model_dir),
                        "temperatures": r.temperatures,
                        "train_seconds": r.train_seconds,
                        "history": r.history,
                    }
                    for r in d.runs
                ],
                "calibration": d.calibration,
            }
            for d in result.designs
        ],
        "rows": [r.to_dict() for r in result.rows],
        "best": best_entry,
    }


def _train_command(result: StudyResult, design: DesignResult) -> str:
    """The `docexit train` command that trains this design at scale with the study's settings
    (the quick grid's tiny random backbone has no `docexit train` options: only its exits and
    strategy carry over)."""
    s = result.settings
    d = design.design
    command = (
        f"docexit train --corpus {result.corpus} --out OUT --init {s.init} --placement {d.placement} "
        f"--modality {d.modality} --head {d.head} --strategy {d.strategy} --gamma {s.gamma} "
        f"--max-length {s.max_length} --image-size {s.image_size} --epochs {s.epochs}"
    )
    if s.init == "random":
        command += "  # tiny study backbone: train the exits/strategy on a real backbone instead"
    return command


def write_csv(result: StudyResult, path: Path) -> None:
    fields = [
        "design",
        "calibrated",
        "kind",
        "param",
        "accuracy",
        "full_accuracy",
        "mean_exit_layer",
        "saving",
        "ece",
        "val_accuracy",
        "val_saving",
        "diff_base",
        "diff_base_low",
        "diff_base_high",
        "ideal_speedup",
    ]
    fields += [f"speedup_bs{b}" for b in result.settings.batch_sizes]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        for r in result.rows:
            writer.writerow(
                [
                    r.design,
                    r.calibrated,
                    r.kind,
                    r.param,
                    r.accuracy,
                    r.full_accuracy,
                    r.mean_exit_layer,
                    r.saving,
                    r.ece,
                    r.val_accuracy,
                    r.val_saving,
                    *r.intervals["vs_base_full"],
                    r.timing.get("ideal_speedup"),
                ]
                + [r.measured_speedup(b) for b in result.settings.batch_sizes]
            )


def write_outputs(result: StudyResult, report: Path, command: str) -> dict[str, Path]:
    """The report, its PNGs, `study.json` and `study_rows.csv`, all next to `report`."""
    report = Path(report)
    folder = report.parent
    folder.mkdir(parents=True, exist_ok=True)
    names = [d.design.name for d in result.designs]
    paths = {
        "report": report,
        "pareto": folder / PARETO_PNG,
        "calibration": folder / CALIBRATION_PNG,
        "simulated_vs_measured": folder / SIM_VS_MEASURED_PNG,
        "json": folder / "study.json",
        "csv": folder / "study_rows.csv",
    }
    plot_pareto(
        result.rows,
        names,
        result.settings.batch_sizes,
        result.base.full_depth().accuracy,
        result.best,
        paths["pareto"],
        result.shipped,
    )
    plot_calibration(result.rows, names, paths["calibration"])
    plot_simulated_vs_measured(
        result.rows, result.settings.batch_sizes, paths["simulated_vs_measured"]
    )
    report.write_text(markdown(result, command) + "\n")
    paths["json"].write_text(
        json.dumps(study_json(result, command, report), indent=2, default=_json_default) + "\n"
    )
    write_csv(result, paths["csv"])
    return paths


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value)}")
