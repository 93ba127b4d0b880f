"""Top-N scoring cost and quality of the rating models: sparse-product score_users vs predict's rule.

    python bench/bench_topn_scoring.py data/ml-latest-small
    python bench/bench_topn_scoring.py data/ml-latest-small --exact-users 100   # vs the exact rule
    python bench/bench_topn_scoring.py /tmp/latentlens-synth-25m --models knn_baseline --score-users 1000

Temporal holdout (each user's latest 20%), fit seconds, then evaluate_topn (NDCG@10 over every
test user) and its seconds. `--exact-users N` also scores a random N test users both ways:
the fast score_users, and every (user, item) pair through predict's exact k-nearest-rated
rule (the old score_users, slow), reporting NDCG@10 of each on those users.
`--score-users N` times score_users on N users instead of a full evaluate_topn (ML-25M).

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

from latentlens.build.evaluate.splits import temporal_holdout
from latentlens.build.evaluate.topn import evaluate_topn
from latentlens.build.models.base import FitContext, Recommender
from latentlens.build.models.knn_baseline import KNNBaseline, KNNBaselineConfig
from latentlens.build.models.rating_base import ExplicitRatingModel
from latentlens.build.models.rating_blend import RatingBlend, RatingBlendConfig
from latentlens.build.progress import configure_logging

MODELS: dict[str, Callable[[], Recommender]] = {
    "knn_baseline": lambda: KNNBaseline(KNNBaselineConfig()),
    "knn_baseline_s40": lambda: KNNBaseline(KNNBaselineConfig(score_neighbors=40)),
    "knn_baseline_s100": lambda: KNNBaseline(KNNBaselineConfig(score_neighbors=100)),
    "user_knn": lambda: KNNBaseline(KNNBaselineConfig(user_based=True)),
    "rating_blend": lambda: RatingBlend(RatingBlendConfig()),
}


class ExactScores(Recommender):
    """A fitted rating model scored pair by pair through its exact `_estimate` (the old way)."""

    def __init__(self, model: ExplicitRatingModel) -> None:
        self.model, self.name, self.config = model, f"{model.name}(exact)", model.config

    def fit(self, data, ctx):  # pragma: no cover - wraps a fitted model
        raise NotImplementedError

    def score_users(self, users: np.ndarray, histories) -> np.ndarray:
        n = self.model._n_items
        uu, ii = np.repeat(users, n), np.tile(np.arange(n), users.shape[0])
        return self.model._estimate(uu, ii).reshape(users.shape[0], n).astype(np.float32)


def load(path: Path):
    from latentlens.build.data.loader import load_movielens
    from latentlens.build.interactions import to_interactions

    return to_interactions(load_movielens(path))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", type=Path)
    ap.add_argument("--models", default="knn_baseline,rating_blend")
    ap.add_argument("--exact-users", type=int, default=0)
    ap.add_argument("--score-users", type=int, default=0)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)
    configure_logging()
    names = args.models.split(",")
    unknown = set(names) - set(MODELS)
    if unknown:
        ap.error(f"unknown models {sorted(unknown)}; choose from {sorted(MODELS)}")
    t0 = time.perf_counter()
    data = load(args.path)
    train, test = temporal_holdout(data, 0.2)
    print(f"{args.path}: {data.n_ratings:,} ratings, {data.n_users:,} users, {data.n_items:,} items "
          f"(loaded and split in {time.perf_counter() - t0:.1f}s)")
    rng = np.random.default_rng(args.seed)
    print(f"{'model':<18} {'fit s':>8} {'score s':>8} {'what':<28} {'NDCG@10':>8}")
    for name in names:
        t0 = time.perf_counter()
        model = MODELS[name]().fit(train, FitContext(rng=np.random.default_rng(args.seed), show_progress=False))
        fit_s = time.perf_counter() - t0
        if args.score_users:
            users = rng.choice(train.n_users, min(args.score_users, train.n_users), replace=False)
            t0 = time.perf_counter()
            model.recommend(users, train.histories.rows(users), 10)
            print(f"{name:<18} {fit_s:8.1f} {time.perf_counter() - t0:8.1f} {f'recommend {len(users)} users':<28}"
                  f" {'-':>8}")
            continue
        t0 = time.perf_counter()
        ndcg = evaluate_topn(model, train, test)["ndcg_at_10"]
        print(f"{name:<18} {fit_s:8.1f} {time.perf_counter() - t0:8.1f} {'evaluate_topn, all users':<28} "
              f"{ndcg:8.4f}")
        if args.exact_users:
            users = rng.choice(np.unique(test.user_idx), args.exact_users, replace=False)
            sub = test.subset(np.isin(test.user_idx, users))
            for scorer, what in ((model, "fast"), (ExactScores(model), "exact (predict rule)")):
                t0 = time.perf_counter()
                ndcg = evaluate_topn(scorer, train, sub)["ndcg_at_10"]
                print(f"{name:<18} {'':>8} {time.perf_counter() - t0:8.1f} "
                      f"{f'{what}, {args.exact_users} users':<28} {ndcg:8.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
