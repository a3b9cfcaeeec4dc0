"""The PNG figures of `docexit study`: the Pareto front (accuracy vs measured speed-up, one curve
per design), the calibration effect, and simulated against measured speed-ups."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from docexit.benchmarks.study.shipped import ShippedCheck  # noqa: E402
from docexit.benchmarks.study.stats import pareto_mask  # noqa: E402
from docexit.benchmarks.study.sweep import FULL_DEPTH, PointRow  # noqa: E402


def _colours(designs: Sequence[str]) -> dict[str, tuple]:
    """Distinct colours: tab20's ten strong shades first, then its light ones."""
    cmap = plt.get_cmap("tab20")
    order = [*range(0, 20, 2), *range(1, 20, 2)]
    return {name: cmap(order[i % 20]) for i, name in enumerate(designs)}


MARKERS = "os^vD<>pXh"


def _plot_front(ax, timed: Sequence[PointRow], bs: int, design: str, colour, marker: str) -> None:
    """One design's timed points at batch size `bs`, its Pareto-optimal ones joined."""
    speed = [r.measured_speedup(bs) for r in timed]
    acc = [100 * r.accuracy for r in timed]
    ax.scatter(speed, acc, s=18, color=colour, marker=marker, alpha=0.5)
    front = sorted((s, a) for s, a, m in zip(speed, acc, pareto_mask(speed, acc), strict=True) if m)
    ax.plot(
        [s for s, _ in front],
        [a for _, a in front],
        "-",
        marker=marker,
        ms=5,
        color=colour,
        label=design,
    )


def plot_pareto(
    rows: Sequence[PointRow],
    designs: Sequence[str],
    batch_sizes: Sequence[int],
    base_full_accuracy: float,
    best: PointRow | None,
    path: Path,
    shipped: ShippedCheck | None = None,
) -> None:
    """Test accuracy vs measured speed-up over full depth (bucketed), one panel per batch size;
    each design's timed points, its Pareto-optimal ones joined by a line; the shipped model's
    own policy as a diamond."""
    colours = _colours(designs)
    markers = {name: MARKERS[i % len(MARKERS)] for i, name in enumerate(designs)}
    fig, axes = plt.subplots(
        1, len(batch_sizes), figsize=(6.5 * len(batch_sizes), 5), squeeze=False
    )
    for ax, bs in zip(axes[0], batch_sizes, strict=True):
        for design in designs:
            timed = [r for r in rows if r.design == design and r.measured_speedup(bs) is not None]
            if timed:
                _plot_front(ax, timed, bs, design, colours[design], markers[design])
        ax.axhline(100 * base_full_accuracy, color="grey", ls="--", lw=1, label="base, full depth")
        ax.axvline(1.0, color="grey", ls=":", lw=1)
        if best is not None and best.measured_speedup(bs) is not None:
            ax.scatter(
                [best.measured_speedup(bs)],
                [100 * best.accuracy],
                marker="*",
                s=220,
                color="black",
                zorder=5,
                label=f"best: {best.design}, {best.label}",
            )
        if shipped is not None and str(bs) in shipped.speedup:
            ax.scatter(
                [shipped.speedup[str(bs)]],
                [100 * shipped.accuracy_early_exit],
                marker="D",
                s=90,
                facecolor="none",
                edgecolor="black",
                zorder=5,
                label=f"shipped model ({shipped.policy.get('name')}; trained longer)",
            )
        ax.set_xscale("log")  # points that exit everything at layer 0 run tens of times faster
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.set_xlabel(f"measured speed-up over full depth (bucketed), batch {bs}, log scale")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"batch size {bs}", fontsize=10)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=min(5, len(labels)))
    fig.tight_layout(rect=(0, 0.06 + 0.035 * (len(labels) // 5), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_calibration(rows: Sequence[PointRow], designs: Sequence[str], path: Path) -> None:
    """Per design: test accuracy vs simulated saving of the max-prob and per-exit heuristic
    sweeps, with (solid) and without (dashed) temperature scaling."""
    cols = min(4, len(designs))
    nrows = -(-len(designs) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.4 * nrows), squeeze=False)
    styles = {"max_prob": "tab:blue", "per_exit_heuristic": "tab:orange"}
    for ax, design in zip(axes.flat, designs, strict=False):
        for kind, colour in styles.items():
            for calibrated, ls in ((True, "-"), (False, "--")):
                sel = sorted(
                    (
                        r
                        for r in rows
                        if r.design == design and r.kind == kind and r.calibrated == calibrated
                    ),
                    key=lambda r: r.saving,
                )
                if sel:
                    ax.plot(
                        [100 * r.saving for r in sel],
                        [100 * r.accuracy for r in sel],
                        ls,
                        marker=".",
                        color=colour,
                        label=f"{kind} {'cal' if calibrated else 'uncal'}",
                    )
        full = [r for r in rows if r.design == design and r.kind == FULL_DEPTH]
        if full:
            ax.axhline(100 * full[0].accuracy, color="grey", ls=":", lw=1)
        ax.set_title(design, fontsize=9)
        ax.set_xlabel("simulated saving (%)", fontsize=8)
        ax.set_ylabel("test accuracy (%)", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(designs) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_simulated_vs_measured(
    rows: Sequence[PointRow], batch_sizes: Sequence[int], path: Path
) -> None:
    """Every timed point: the paper's simulated speed-up against the measured ones (and the
    ideal one from measured layer costs); the diagonal is where they agree."""
    timed = [
        r
        for r in rows
        if r.kind != FULL_DEPTH and "speedup" in r.timing and not r.timing.get("shared")
    ]
    fig, ax = plt.subplots(figsize=(6, 5))
    simulated = [1.0 / max(1e-9, 1.0 - r.saving) for r in timed]
    markers = ["o", "^", "s", "D"]
    for i, bs in enumerate(batch_sizes):
        ax.scatter(
            simulated,
            [r.measured_speedup(bs) for r in timed],
            marker=markers[i % 4],
            s=20,
            alpha=0.7,
            label=f"measured, batch {bs}",
        )
    ax.scatter(
        simulated,
        [r.timing["ideal_speedup"] for r in timed],
        marker="x",
        s=20,
        color="black",
        alpha=0.6,
        label="ideal (measured layer costs)",
    )
    top = max(
        [1.0, *simulated, *(r.timing["ideal_speedup"] for r in timed)]
        + [r.measured_speedup(bs) or 1.0 for r in timed for bs in batch_sizes]
    )
    ax.plot([0.9, top * 1.05], [0.9, top * 1.05], color="grey", lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("simulated speed-up (paper's measure: 1 / (1 - saving))")
    ax.set_ylabel("speed-up over full depth (bucketed)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
