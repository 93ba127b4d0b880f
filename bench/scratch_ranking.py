"""Scratch: top-N metrics and fit times of the ranking models on ml-latest-small (temporal holdout).

    .venv/bin/python bench/scratch_ranking.py [model ...]

Reads the CSVs directly with polars (independent of the loader), so it is a bench script,
not part of the build.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from latentlens.build.evaluate.splits import temporal_holdout
from latentlens.build.evaluate.topn import evaluate_topn
from latentlens.build.interactions import Interactions, Vocabulary
from latentlens.build.models.base import FitContext

DATA = Path(__file__).resolve().parents[1] / "data" / "ml-latest-small"


def load_small() -> tuple[Interactions, pl.DataFrame, pl.DataFrame]:
    ratings = pl.read_csv(DATA / "ratings.csv")
    movies = pl.read_csv(DATA / "movies.csv")
    tags = pl.read_csv(DATA / "tags.csv")
    users = Vocabulary.from_ids(ratings["userId"].to_numpy())
    items = Vocabulary.from_ids(movies["movieId"].to_numpy())
    data = Interactions(
        users, items,
        users.index(ratings["userId"].to_numpy()).astype(np.int32),
        items.index(ratings["movieId"].to_numpy()).astype(np.int32),
        ratings["rating"].to_numpy().astype(np.float32),
        ratings["timestamp"].to_numpy().astype(np.int64),
    )
    return data, movies, tags


def models(names: list[str], train: Interactions, movies: pl.DataFrame, tags: pl.DataFrame):
    from latentlens.build.models.popularity import Popularity, PopularityConfig
    registry = {
        "popularity": lambda: Popularity(PopularityConfig(score="count")),
        "popularity-weighted": lambda: Popularity(PopularityConfig(score="weighted")),
    }
    try:
        from latentlens.build.models.itemknn import ItemKNN, ItemKNNConfig
        registry["itemknn"] = lambda: ItemKNN(ItemKNNConfig())  # centred, shrinkage 50
        registry["itemknn-binary"] = lambda: ItemKNN(ItemKNNConfig(weighting="binary", shrinkage=10.0))
    except ImportError:
        pass
    try:
        from latentlens.build.models.ease import EASE, EASEConfig
        registry["ease"] = lambda: EASE(EASEConfig())
        registry["ease-steck"] = lambda: EASE(EASEConfig(profile="binary", l2=300.0))
    except ImportError:
        pass
    try:
        from latentlens.build.models.rp3beta import RP3Beta, RP3BetaConfig
        registry["rp3beta"] = lambda: RP3Beta(RP3BetaConfig())
    except ImportError:
        pass
    try:
        from latentlens.build.models.surprise_svd import SurpriseSVD, SurpriseSVDConfig
        registry["surprise-svd"] = lambda: SurpriseSVD(SurpriseSVDConfig())
    except ImportError:
        pass
    try:
        from latentlens.build.data.loader import load_movielens
        from latentlens.build.models.content import ContentConfig, ContentKNN, item_features
        movielens = load_movielens(DATA)
        for label, cfg in {"content": ContentConfig(), "content-t3.5": ContentConfig(liked_threshold=3.5),
                           "content-genres": ContentConfig(tag_weight=0.0, year_weight=0.0)}.items():
            registry[label] = (lambda cfg=cfg: ContentKNN(cfg, item_features(movielens, train.items, cfg)))
        from latentlens.build.models.hybrid import Hybrid, HybridConfig
        registry["hybrid"] = lambda: Hybrid(HybridConfig(), item_features(movielens, train.items, ContentConfig()))
    except ImportError:
        pass
    for name in names or list(registry):
        yield name, registry[name]()


def main(argv: list[str]) -> None:
    data, movies, tags = load_small()
    train, test = temporal_holdout(data)
    print(f"train {train.n_ratings}  test {test.n_ratings}")
    print(f"{'model':22s} {'fit_s':>6s} {'ndcg':>6s} {'prec':>6s} {'recall':>6s} {'map':>6s} {'hit':>6s} {'cov':>6s} {'nov':>6s}")
    for name, model in models(argv, train, movies, tags):
        t0 = time.perf_counter()
        model.fit(train, FitContext(rng=np.random.default_rng(0), show_progress=False))
        fit_s = time.perf_counter() - t0
        m = evaluate_topn(model, train, test)
        print(f"{name:22s} {fit_s:6.2f} {m['ndcg_at_10']:.4f} {m['precision_at_10']:.4f} {m['recall_at_10']:.4f} "
              f"{m['map_at_10']:.4f} {m['hit_rate_at_10']:.4f} {m['coverage']:.4f} {m['novelty']:6.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
