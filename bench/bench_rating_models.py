"""Fit seconds and RMSE/MAE of the rating models on one dataset: Surprise SVD vs ours.

    python bench/bench_rating_models.py data/ml-latest-small            # one 80/20 split
    python bench/bench_rating_models.py data/ml-latest-small --folds 5  # k-fold CV
    python bench/bench_rating_models.py /tmp/latentlens-synth-1m --models surprise_svd,biased_mf

A bench, not library code: it prints its table to stdout (logs go to stderr).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import docs_results
import numpy as np

from latentlens.build.evaluate.metrics import mae, rmse
from latentlens.build.evaluate.rating_cv import cross_validate
from latentlens.build.interactions import Interactions
from latentlens.build.models.base import FitContext, Recommender
from latentlens.build.models.baseline import Baseline
from latentlens.build.models.biased_mf import BiasedMF, BiasedMFConfig
from latentlens.build.models.knn_baseline import KNNBaseline, KNNBaselineConfig
from latentlens.build.models.rating_blend import RatingBlend, RatingBlendConfig
from latentlens.build.models.surprise_svd import SurpriseSVD, SurpriseSVDConfig
from latentlens.build.progress import configure_logging

MODELS: dict[str, Callable[[], Recommender]] = {
    "baseline": lambda: Baseline(),
    "surprise_svd": lambda: SurpriseSVD(SurpriseSVDConfig()),  # 150 factors, 20 epochs
    "biased_mf": lambda: BiasedMF(BiasedMFConfig()),  # the default: 16 factors x 4, reg from its grid
    # the old default
    "biased_mf_32": lambda: BiasedMF(BiasedMFConfig(factors=32, iterations=6, reg=0.08, reg_grid=None)),
    "biased_mf_64": lambda: BiasedMF(BiasedMFConfig(factors=64, reg=0.1, reg_grid=None, iterations=12, cg_steps=3)),
    "item_knn": lambda: KNNBaseline(KNNBaselineConfig()),
    "item_knn_min10": lambda: KNNBaseline(KNNBaselineConfig(min_raters=10)),
    "user_knn": lambda: KNNBaseline(KNNBaselineConfig(user_based=True)),
    "rating_blend": lambda: RatingBlend(RatingBlendConfig()),
}


def load_interactions(path: Path) -> Interactions:
    """The same dense-index data the build trains on."""
    from latentlens.build.data.loader import load_movielens
    from latentlens.build.interactions import to_interactions

    return to_interactions(load_movielens(path))


def split_once(data: Interactions, names: list[str], seed: int, repeats: int) -> list[tuple[str, float, float, float]]:
    """One 80/20 split; fit seconds is the best of `repeats` fits (the machine is shared)."""
    rng = np.random.default_rng(seed)
    test = rng.random(data.n_ratings) < 0.2
    train, held = data.subset(~test), data.subset(test)
    rows = []
    for name in names:
        seconds = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            model = MODELS[name]().fit(train, FitContext(rng=np.random.default_rng(seed), show_progress=False))
            seconds = min(seconds, time.perf_counter() - t0)
        pred = model.predict(held.user_idx, held.item_idx)
        rows.append((name, seconds, rmse(pred, held.rating), mae(pred, held.rating)))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", type=Path)
    ap.add_argument("--folds", type=int, default=0, help="k-fold CV instead of one 80/20 split")
    ap.add_argument("--models", default="surprise_svd,biased_mf,rating_blend")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeats", type=int, default=1, help="fits per model on the split; the fastest counts")
    args = ap.parse_args(argv)
    configure_logging()
    names = args.models.split(",")
    unknown = set(names) - set(MODELS)
    if unknown:
        ap.error(f"unknown models {sorted(unknown)}; choose from {sorted(MODELS)}")
    data = load_interactions(args.path)
    print(f"{args.path}: {data.n_ratings:,} ratings, {data.n_users:,} users, {data.n_items:,} items")
    if args.folds:
        rows = []
        for name in names:
            res = cross_validate(MODELS[name], data, args.folds,
                                 FitContext(rng=np.random.default_rng(args.seed), show_progress=False))
            rows.append((name, res["fit_seconds_mean"], res["rmse_mean"], res["mae_mean"]))
        print(f"{args.folds}-fold CV (means over folds)")
    else:
        rows = split_once(data, names, args.seed, args.repeats)
        print(f"one 80/20 random split, fit seconds = best of {args.repeats}")
    ref = dict((n, s) for n, s, _, _ in rows).get("surprise_svd")
    print(f"{'model':<14} {'fit s':>9} {'RMSE':>7} {'MAE':>7} {'speed vs SVD':>13}")
    for name, seconds, r, m in rows:
        speed = f"{ref / seconds:.1f}x" if ref else "-"
        print(f"{name:<14} {seconds:9.2f} {r:7.4f} {m:7.4f} {speed:>13}")
    return 0


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
