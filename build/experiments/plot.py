"""The report as a PNG: each arm's click-through with its 95% interval, and the difference with its intervals
against zero. matplotlib is the build's own plotting library (build/tracking/plots.py), already installed."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display
import matplotlib.pyplot as plt

from latentlens.build.experiments.report import Report


def _errors(value: float, interval: tuple[float, float]) -> list[list[float]]:
    low, high = interval
    if not (math.isfinite(low) and math.isfinite(high)):
        return [[0.0], [0.0]]
    return [[value - low], [high - value]]


def _draw(report: Report):
    fig, (arms_ax, lift_ax) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [1, 1.3]})
    names = list(report.arms)
    for i, name in enumerate(names):
        arm = report.arms[name]
        arms_ax.bar(i, arm.ctr, color=("#4c72b0", "#dd8452")[i], width=0.6)
        arms_ax.errorbar(i, arm.ctr, yerr=_errors(arm.ctr, arm.ctr_interval), color="black", capsize=6)
    arms_ax.set_xticks(range(len(names)), [f"{n}\n{report.arms[n].people:,} people" for n in names])
    arms_ax.set(ylabel="click-through", title="Click-through per arm (95% interval)")
    lift = report.lift
    rows = [("delta method", lift.difference_interval), ("bootstrap", report.bootstrap_interval)]
    for y, (_, interval) in enumerate(rows):
        lift_ax.errorbar(lift.difference, y, xerr=_errors(lift.difference, interval), fmt="o", capsize=6,
                         color="black")
    lift_ax.axvline(0, color="grey", linestyle="--", linewidth=1)
    lift_ax.set_yticks(range(len(rows)), [label for label, _ in rows])
    lift_ax.set_ylim(-0.7, len(rows) - 0.3)
    lift_ax.set(xlabel="challenger - champion click-through", title="Difference (95% interval)")
    winner = report.verdict.winner
    fig.suptitle(f"{report.experiment.name}: " + (f"{winner} wins" if winner else "no winner named"))
    fig.tight_layout()
    return fig


def write_plot(report: Report, path: Path) -> Path:
    """Write the PNG to a temporary name beside `path`, then rename it into place: never a half-written file."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(handle)
    fig = None
    try:
        fig = _draw(report)
        fig.savefig(temporary, dpi=110, format="png")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    finally:
        if fig is not None:
            plt.close(fig)
    return path
