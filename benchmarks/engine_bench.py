"""`docexit bench engine`: pages/s of the early-exit engine against full depth (wall and CPU).

The same pages and model at each batch size, five modes (`docexit.models.engine`), run in
rotation (abecd abecd ...: (b) and (e) back to back) for `--rounds` rounds, so that a slow spell
of a loaded machine falls on every mode alike:

  (a) full_padded    full depth, every page padded to max_text_tokens (the paper's setting)
  (b) full_bucketed  full depth with length bucketing
  (c) batch_exit     early exit, the batch stops when all its pages have exited
  (d) shrink         early exit, exited pages leave the batch (one group at a time)
  (e) shrink_refill  shrinking + refill + bucketing (the engine)

For each: steady-state pages/s (the median over the rounds; model load, page preparation and
each run's warm-up batch are timed apart), accuracy and peak memory (CUDA: max_memory_allocated growth; CPU: resident
set growth sampled every few ms, after returning freed memory to the OS with malloc_trim). Also
the exit-layer histogram and the ideal speed-up over (b) that the histogram implies, from each
layer's measured per-page cost (embeddings, encoder layers, exit heads and decisions). Each
ratio is the median of the per-round ratios (both modes timed in the same round) with its range.
Each ratio prints in CPU time (this process's CPU seconds) and wall clock side by side; the
targets (PASS/FAIL) use CPU time where torch runs one CPU thread (`--quick`), since other jobs on a
shared machine stretch the wall clock but not the work this process does, and wall clock otherwise
(`target_basis`). Figures go to `--json` and a PNG chart.

Pages: the synthetic generator's own words and boxes (no OCR), or a built corpus split
(`--corpus DIR --split test`). Model: the bundled one, `--model DIR`, or `--random-base`
(LayoutLMv3-base size, 12 layers, hidden 768, random weights: for speed only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from docexit.benchmarks.engine_measure import (
    ModeResult,
    ideal_speedup,
    measure_layer_costs,
    run_mode,
)
from docexit.benchmarks.engine_setup import (
    Page,
    choose_policy,
    corpus_pages,
    load_model,
    synthetic_pages,
)
from docexit.benchmarks.timing import (
    Spread,
    Target,
    interleave,
    log,
    round_ratios,
    spread,
    target_lines,
    targets_dict,
)
from docexit.models.device import resolve_device
from docexit.models.engine import MODES
from docexit.models.model import EarlyExitModel
from docexit.models.policies import ExitPolicy

MODE_ORDER = ("full_padded", "full_bucketed", "batch_exit", "shrink", "shrink_refill")
MODE_LETTERS = dict(zip(MODE_ORDER, "abcde", strict=True))
# The order of a round: (b) and (e), the headline ratio's two sides, run back to back
ROTATION = ("full_padded", "full_bucketed", "shrink_refill", "batch_exit", "shrink")
QUICK = {"pages": 32, "engine_step_sizes": "1,8", "rounds": 9, "threads": 1}
DEFAULT_ROUNDS = 3
RUN_TO_RUN = 0.10  # two runs' (e)/(b) at most this far apart (--compare)
IDEAL_SLACK = 1.10  # a measured (e)/(b) above 110% of the ideal is noise, not speed
_SAME = "same pages, same round"
_CPU = "CPU seconds of this process, all threads: what other jobs on a shared machine stretch least"
RATIOS = {  # name -> (numerator mode, denominator mode, figure, definition)
    "e_over_b": ("shrink_refill", "full_bucketed", "pages_per_s",
                 f"(e) shrink+refill pages/s / (b) full depth bucketed pages/s, wall clock, {_SAME}"),
    "e_over_a": ("shrink_refill", "full_padded", "pages_per_s",
                 f"(e) shrink+refill pages/s / (a) full depth padded pages/s, wall clock, {_SAME}"),
    "e_over_b_cpu": ("shrink_refill", "full_bucketed", "cpu_pages_per_s",
                     f"the same as e_over_b in pages per {_CPU}; {_SAME}"),
    "e_over_a_cpu": ("shrink_refill", "full_padded", "cpu_pages_per_s",
                     f"the same as e_over_a in pages per {_CPU}; {_SAME}"),
}  # fmt: skip
CPU_BASIS = (
    "CPU time: torch runs one thread on the CPU, so this process's CPU seconds are the model's "
    "own work, which other jobs on a shared machine stretch only through caches and clock speed; "
    "its wall clock also counts the time they held the core"
)
WALL_BASIS = "wall clock: on {why}, this process's CPU seconds do not measure the model's work"


def target_basis(device: str, threads: int) -> tuple[str, str]:
    """(ratio-name suffix, why) of the ratios the targets are judged on: CPU time ("_cpu") where
    torch runs one CPU thread, else wall clock (GPU work is not CPU time; with several threads,
    CPU time also counts threads that spin while they wait for each other)."""
    if device == "cpu" and threads == 1:
        return "_cpu", CPU_BASIS
    why = "a GPU" if device != "cpu" else f"{threads} threads (idle threads spin)"
    return "", WALL_BASIS.format(why=why)


# ---- the benchmark ------------------------------------------------------------------------------


def mode_figures(runs: Sequence[ModeResult]) -> dict[str, Any]:
    """One mode at one batch size over its rounds: median pages/s with every round's figure;
    accuracy and step figures from the first round (the same pages give the same exits); the
    highest peak memory."""
    first = runs[0]
    return {
        **asdict(first),
        "pages_per_s": spread([r.pages_per_s for r in runs]).median,
        "pages_per_s_rounds": [r.pages_per_s for r in runs],
        "cpu_pages_per_s": spread([r.cpu_pages_per_s for r in runs]).median,
        "cpu_pages_per_s_rounds": [r.cpu_pages_per_s for r in runs],
        "seconds": spread([r.seconds for r in runs]).median,
        "peak_mb": max(r.peak_mb for r in runs),
    }


def mode_ratios(modes: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Spread]]:
    """Each ratio of RATIOS at each batch size, from the per-round figures of both modes (CPU
    ratios only where CPU time was measured)."""
    out: dict[str, dict[str, Spread]] = {}
    for name, (top, bottom, field, _) in RATIOS.items():
        out[name] = {}
        for bs, figures in modes[top].items():
            rounds = f"{field}_rounds"
            if rounds not in figures:
                continue
            value = round_ratios(figures[rounds], modes[bottom][bs][rounds])
            if value is not None:
                out[name][bs] = value
    return out


def check_targets(
    modes: dict[str, dict[str, dict[str, Any]]],
    ratios: dict[str, dict[str, Spread]],
    ideal: float,
    basis: str = "",
) -> list[Target]:
    """The benchmark's targets (only those its batch sizes allow), judged on median ratios:
    wall clock, or CPU time with `basis="_cpu"` (`target_basis`)."""
    e_b, e_a, targets = ratios[f"e_over_b{basis}"], ratios[f"e_over_a{basis}"], []
    if "32" in e_b:
        targets += [
            Target("(e) >= 2x (a) at batch 32", e_a["32"].median >= 2, e_a["32"].text()),
            Target("(e) >= 1.5x (b) at batch 32", e_b["32"].median >= 1.5, e_b["32"].text()),
            Target(
                "(e)/(b) at batch 32 within 85% of the ideal speed-up",
                e_b["32"].median >= 0.85 * ideal,
                f"{e_b['32'].median / ideal:.0%} of {ideal:.2f}x",
            ),
        ]
    for bs, value in e_b.items():
        targets.append(
            Target(
                f"(e)/(b) at batch {bs} not above the ideal +{IDEAL_SLACK - 1:.0%} (else noise)",
                value.median <= IDEAL_SLACK * ideal,
                f"{value.median:.2f}x vs ideal {ideal:.2f}x",
            )
        )
    for bs in modes["shrink_refill"]:
        full, early = modes["full_bucketed"][bs]["accuracy"], modes["shrink_refill"][bs]["accuracy"]
        targets.append(
            Target(
                f"(e) accuracy within 0.2 points of full depth at batch {bs}",
                full - early <= 0.002,
                f"{early:.4f} vs {full:.4f}",
            )
        )
    if "1" in e_b:
        targets.append(
            Target("(e) at batch 1 no slower than (b)", e_b["1"].median >= 1, e_b["1"].text())
        )
    return targets


def run_to_run(
    ratios: dict[str, dict[str, Any]], previous: dict[str, dict[str, Any]], basis: str = ""
) -> tuple[list[str], list[Target]]:
    """This run's (e)/(b) medians against an earlier run's (its JSON's "ratios"), batch size by
    batch size, in CPU time and wall clock: a line each, and a target each on the ratios the
    targets use (`basis`): apart = |this - earlier| / the smaller of the two."""
    lines, targets = [], []
    for name in ("e_over_b_cpu", "e_over_b"):
        for bs, value in ratios.get(name, {}).items():
            before = previous.get(name, {}).get(bs)
            if before is None:
                continue
            now, then = value["median"], before["median"]
            apart = abs(now - then) / min(now, then)
            lines.append(f"{name} at batch {bs}: {then:.2f}x then {now:.2f}x, {apart:.1%} apart")
            if name == f"e_over_b{basis}":
                targets.append(
                    Target(
                        f"(e)/(b) at batch {bs} within {RUN_TO_RUN:.0%} of the earlier run",
                        apart <= RUN_TO_RUN,
                        f"{then:.2f}x then {now:.2f}x ({apart:.1%} apart)",
                    )
                )
    return lines, targets


def load_pages(args: argparse.Namespace, model: EarlyExitModel) -> tuple[list[Page], str]:
    """The benchmark's pages and where they came from."""
    folds = args.text_prior_folds
    if args.corpus is not None:
        pages = corpus_pages(args.corpus, args.split, model, args.pages, folds)
        text = "" if folds is None else f"; the text floor's features out of fold ({folds} folds)"
        return pages, f"{args.corpus} ({args.split}){text}"
    if folds is not None:
        raise SystemExit("docexit bench engine: --text-prior-folds reads --corpus pages")
    pages = synthetic_pages(args.pages, model, seed=args.seed, workers=args.workers)
    return pages, "synthetic generator (ground-truth words, no OCR)"


def time_modes(
    args: argparse.Namespace, model: EarlyExitModel, policy: ExitPolicy, pages: Sequence[Page]
) -> tuple[dict[str, dict[str, dict[str, Any]]], Counter[int], Counter[int]]:
    """Every mode at every batch size, in rotation over the rounds; the modes' figures and
    (e)'s exit-index and exit-layer counts."""
    modes: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in MODE_ORDER}
    exits: Counter[int] = Counter()
    layers: Counter[int] = Counter()
    for bs in (int(b) for b in args.engine_step_sizes.split(",")):

        def one(mode: str, r: int, bs: int = bs) -> ModeResult:
            result, predictions = run_mode(
                model, policy, pages, mode, bs, pool_size=args.pool_size,
                progress=not args.no_progress,
            )  # fmt: skip
            log(
                f"  round {r + 1}/{args.rounds} bs={bs:<3} ({MODE_LETTERS[mode]}) {mode:<14} "
                f"{result.pages_per_s:8.2f} pages/s acc {result.accuracy:.4f}  "
                f"peak {result.peak_mb:8.1f} MB  {result.mean_step_pages:5.1f} pages/step"
            )
            if mode == "shrink_refill" and not exits:
                exits.update(p.exit_index for p in predictions.values())
                layers.update(p.exit_layer for p in predictions.values())
            return result

        for mode, runs in interleave(ROTATION, args.rounds, one).items():
            modes[mode][str(bs)] = mode_figures(runs)
    return modes, exits, layers


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Everything `main` prints, as the JSON report."""
    device = resolve_device(args.device)
    start = time.perf_counter()
    model, model_name = load_model(args)
    model.to(device).eval()
    startup = {"model_load_s": time.perf_counter() - start}
    log(f"model: {model_name}; {model.num_layers} layers, exits after {model.exit_layers}")
    start = time.perf_counter()
    pages, source = load_pages(args, model)
    startup["pages_s"] = time.perf_counter() - start
    tokens = [f.num_tokens for f, _ in pages]
    log(
        f"pages: {len(pages)} from {source} in {startup['pages_s']:.1f} s; tokens "
        f"mean {sum(tokens) / len(tokens):.0f}, min {min(tokens)}, max {max(tokens)}"
    )
    policy, policy_source = choose_policy(args, model, pages)
    log(f"policy: {policy.to_dict()} ({policy_source})")
    modes, exit_counts, layer_counts = time_modes(args, model, policy, pages)
    sizes = [int(b) for b in args.engine_step_sizes.split(",")]
    cost_bs = max([b for b in sizes if b <= 32] or sizes)
    costs = measure_layer_costs(model, policy, pages, cost_bs)
    ideal = ideal_speedup(model, costs, exit_counts)
    ratios = mode_ratios(modes)
    if device.type == "cuda":  # CPU time says nothing of GPU work
        ratios = {n: v for n, v in ratios.items() if not n.endswith("_cpu")}
    basis, basis_why = target_basis(device.type, torch.get_num_threads())
    return {
        "model": model_name,
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "rounds": args.rounds,
        "pages": len(pages),
        "source": source,
        "startup": startup,
        "tokens": {"mean": sum(tokens) / len(tokens), "min": min(tokens), "max": max(tokens)},
        "policy": policy.to_dict(),
        "modes": modes,
        "exit_histogram": {str(k): layer_counts.get(k, 0) for k in range(model.num_layers + 1)},
        "exit_index_histogram": {str(k): exit_counts.get(k, 0) for k in range(len(model.exits))},
        "layer_costs_ms": {**asdict(costs), "batch_size": cost_bs},
        "ideal_speedup": ideal,
        "ratios": {n: {bs: s.to_dict() for bs, s in v.items()} for n, v in ratios.items()},
        "ratio_definitions": {n: d for n, (*_, d) in RATIOS.items() if n in ratios},
        "target_basis": {"ratios": "cpu" if basis else "wall", "why": basis_why},
        "targets": targets_dict(check_targets(modes, ratios, ideal, basis)),
    }


def read_earlier_run(path: Path) -> dict[str, Any]:
    """An earlier run's --json report; ValueError when it is not one."""
    try:
        report = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"--compare {path}: not a readable JSON report ({err})") from err
    if not isinstance(report, dict) or not isinstance(report.get("ratios"), dict):
        raise ValueError(f"--compare {path}: no ratios in it (not a `bench engine --json` file)")
    return report


def compare_with(report: dict[str, Any], previous: dict[str, Any], path: Path) -> None:
    """Add the run-to-run lines and targets against the earlier run `previous` (from `path`)."""
    basis = "_cpu" if report["target_basis"]["ratios"] == "cpu" else ""
    lines, targets = run_to_run(report["ratios"], previous.get("ratios", {}), basis)
    report["run_to_run"] = {"previous": str(path), "lines": lines}
    report["targets"].update(targets_dict(targets))


def print_report(report: dict[str, Any]) -> None:
    """The summary table, histogram, ratios with their definitions, and targets."""
    modes = report["modes"]
    startup = report["startup"]
    print(
        f"\nstart-up (in no pages/s figure): model load {startup['model_load_s']:.1f} s, "
        f"pages {startup['pages_s']:.1f} s; pages/s: steady state, median of "
        f"{report['rounds']} round(s) run in rotation"
    )
    print(f"{'mode':<18}" + "".join(f"{'bs ' + bs:>22}" for bs in modes["full_padded"]))
    for mode in MODE_ORDER:
        cells = "".join(
            f"{r['pages_per_s']:8.2f}/s {100 * r['accuracy']:5.1f}% {r['peak_mb']:5.0f}MB"
            for r in modes[mode].values()
        )
        print(f"({MODE_LETTERS[mode]}) {mode:<14}{cells}")
    total = sum(report["exit_histogram"].values())
    print(
        "\nexit layer histogram: "
        + ", ".join(
            f"{k}: {v} ({100 * v / total:.0f}%)" for k, v in report["exit_histogram"].items()
        )
    )
    costs = report["layer_costs_ms"]
    print(
        f"per-page cost (ms, bs {costs['batch_size']}): embed {costs['embed_ms']:.2f}, layers "
        + " ".join(f"{t:.2f}" for t in costs["layer_ms"])
        + ", exits "
        + " ".join(f"{t:.3f}" for t in costs["exit_ms"])
    )
    print(
        f"ideal speed-up over (b): {report['ideal_speedup']:.2f}x = (b)'s per-page cost / the "
        "mean per-page cost of each page's own exit, from the per-layer costs above"
    )
    print_ratios(report)
    if "run_to_run" in report:
        print(f"against the earlier run {report['run_to_run']['previous']}:")
        print("\n".join(f"  {line}" for line in report["run_to_run"]["lines"]))
    print("\n".join(target_lines(report["targets"])))


def print_ratios(report: dict[str, Any]) -> None:
    """Each ratio at each batch size in CPU time and wall clock side by side, the definitions,
    and which of the two the targets use."""
    ratios, definitions = report["ratios"], report["ratio_definitions"]
    for name in (n for n in ratios if not n.endswith("_cpu")):
        cpu = ratios.get(f"{name}_cpu", {})
        for bs, value in ratios[name].items():
            shown = f"wall {Spread(**value).text()}"
            if bs in cpu:
                shown = f"CPU {Spread(**cpu[bs]).text()} | {shown}"
            print(f"{name} at batch {bs}: {shown}")
        print(f"    = {definitions[name]}")
        if cpu:
            print(f"    CPU = {definitions[f'{name}_cpu']}")
    basis = report["target_basis"]
    print(f"targets judged on {basis['ratios']} ratios: {basis['why']}")


def write_chart(report: dict[str, Any], path: Path) -> None:
    """Pages/s per mode and batch size (log scale), and the exit-layer histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = report["modes"]
    sizes = list(modes["full_padded"])
    fig, (ax, hist) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [2, 1]})
    width = 0.8 / len(MODE_ORDER)
    for j, mode in enumerate(MODE_ORDER):
        values = [modes[mode][bs]["pages_per_s"] for bs in sizes]
        xs = [i + (j - len(MODE_ORDER) / 2 + 0.5) * width for i in range(len(sizes))]
        ax.bar(xs, values, width, label=f"({MODE_LETTERS[mode]}) {mode}")
    ax.set_xticks(range(len(sizes)), [f"batch {bs}" for bs in sizes])
    ax.set_yscale("log")
    ax.set_ylabel("pages / s")
    ax.set_title(f"{report['model']} on {report['device']}", fontsize=9)
    ax.legend(fontsize=8)
    layers = list(report["exit_histogram"])
    hist.bar(layers, [report["exit_histogram"][k] for k in layers])
    hist.set_xlabel("exit layer")
    hist.set_ylabel("pages")
    hist.set_title(f"ideal speed-up over (b): {report['ideal_speedup']:.2f}x", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- CLI ----------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _add_page_arguments(parser)
    _add_run_arguments(parser)


def _add_page_arguments(parser: argparse.ArgumentParser) -> None:
    """The model and the pages it classifies."""
    parser.add_argument(
        "--model", type=Path, default=None, help="checkpoint folder (default: the bundled model)"
    )
    parser.add_argument(
        "--random-base",
        action="store_true",
        help="a random LayoutLMv3-base-size model (speed only)",
    )
    parser.add_argument(
        "--add-exits",
        metavar="PLACEMENT",
        default=None,
        help="with --model: untrained exits at PLACEMENT (quarter, all, 3,6,9, ...) plus text and "
        "vision exits, before its own final classifier, with quantile thresholds (speed only: "
        "an imported classifier with exits)",
    )
    parser.add_argument(
        "--corpus", type=Path, default=None, help="built corpus folder (default: generate pages)"
    )
    parser.add_argument(
        "--split",
        default="test",
        help="corpus split, or several comma-separated (`test,validation`), with --corpus",
    )
    parser.add_argument(
        "--text-prior-folds",
        type=int,
        default=None,
        metavar="K",
        help="with --corpus and a model with a text prior fitted on these pages: each page's "
        "text floor features from floors trained on the other K folds (out of fold, as docexit "
        "calibrate scores them), so pages leave where unseen pages would",
    )
    parser.add_argument("--pages", type=int, default=1000, help="pages to classify")
    parser.add_argument(
        "--workers", type=int, default=1, help="processes generating synthetic pages"
    )
    parser.add_argument("--seed", type=int, default=0, help="synthetic page seed")


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """How the modes run and what the bench writes."""
    parser.add_argument(
        "--engine-step-sizes",
        "--batch-sizes",  # its older name
        dest="engine_step_sizes",
        default="1,8,32,64",
        help="comma-separated engine step sizes: pages each mode runs per layer step "
        "(the figures' 'batch'; --batch-sizes is the older name)",
    )
    parser.add_argument(
        "--pool-size", type=int, default=512, help="pages the engine buckets together"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="max-prob threshold instead of the model's policy",
    )
    parser.add_argument(
        "--exit-share",
        type=float,
        default=None,
        help="instead of the model's policy, thresholds that let about this share of pages exit "
        "at each exit (speed tests of untrained or random models)",
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--png", type=Path, default=None, help="chart (default: next to --json)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=DEFAULT_ROUNDS,
        help="times each mode runs, in rotation with the others (default: %(default)s)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a short run: {QUICK} (these override --pages, --engine-step-sizes, --rounds and --threads)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        default=None,
        metavar="JSON",
        help="an earlier run's --json: print how far apart the two runs' (e)/(b) ratios are, "
        f"with a target of at most {RUN_TO_RUN * 100:.0f}%%",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def main(args: argparse.Namespace) -> int:
    from docexit.pipeline.defaults import MissingModelError

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.quick:
        args.pages, args.engine_step_sizes = QUICK["pages"], QUICK["engine_step_sizes"]
        args.rounds, args.threads = QUICK["rounds"], args.threads or QUICK["threads"]
    if args.rounds < 1:
        print("docexit bench engine: --rounds must be >= 1", file=sys.stderr)
        return 2
    if args.add_exits and (args.model is None or args.random_base):
        print(
            "docexit bench engine: --add-exits needs --model (and no --random-base)",
            file=sys.stderr,
        )
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    unknown = {m for m in MODE_ORDER if m not in MODES}
    assert not unknown, unknown
    try:
        previous = read_earlier_run(args.compare) if args.compare is not None else None
    except ValueError as err:
        print(f"docexit bench engine: {err}", file=sys.stderr)
        return 2
    try:
        report = run_benchmark(args)
    except MissingModelError as err:
        print(f"docexit bench engine: {err}", file=sys.stderr)
        return 2
    if previous is not None:
        compare_with(report, previous, args.compare)
    print_report(report)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    png = args.png or (args.json.with_suffix(".png") if args.json is not None else None)
    if png is not None:
        write_chart(report, png)
        print(f"wrote {png}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """`python -m docexit.benchmarks.engine_bench`."""
    parser = argparse.ArgumentParser(prog="docexit bench engine", description=__doc__)
    add_arguments(parser)
    return main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
