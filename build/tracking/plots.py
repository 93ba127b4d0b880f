"""PNG plots logged with every build: the data's shape and how the models compare."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on build machines
import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from latentlens.build.data.summary import ratings_per


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def rating_distribution(ratings: pl.DataFrame, path: Path) -> Path:
    counts = ratings.group_by("rating").len().sort("rating")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(counts["rating"].to_numpy(), counts["len"].to_numpy(), width=0.4)
    ax.set(xlabel="rating", ylabel="ratings", title="Rating distribution")
    return _save(fig, path)


def long_tail(ratings: pl.DataFrame, path: Path) -> Path:
    """Ratings per user and per movie, sorted, log scale: the long tail every CF model fights."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, label in zip(axes, ("users", "movies"), strict=True):
        per = ratings_per(ratings, "user_id" if label == "users" else "movie_id").to_numpy()
        ax.plot(np.arange(1, per.size + 1), per)
        ax.set(xscale="log", yscale="log", xlabel=f"{label} by rank", ylabel="ratings",
               title=f"Ratings per {label[:-1]}")
    return _save(fig, path)


def model_comparison(table: pl.DataFrame, metric: str, path: Path) -> Path:
    rows = table.filter(pl.col(metric).is_not_null()).sort(metric)
    fig, ax = plt.subplots(figsize=(7, 0.45 * max(len(rows), 2) + 1.2))
    ax.barh(rows["model"].to_list(), rows[metric].to_numpy())
    ax.set(xlabel=metric, title=f"Models by {metric}")
    return _save(fig, path)


def rmse_per_fold(per_fold: dict[str, list[float]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for model, values in sorted(per_fold.items()):
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=model)
    ax.set(xlabel="fold", ylabel="RMSE", title="RMSE per cross-validation fold")
    ax.legend(fontsize="small")
    return _save(fig, path)
