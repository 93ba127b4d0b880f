"""Similar movies before and after the co-rater rule and the content blend, and the cost of `because`.

Fits item-kNN and content on all ratings of DATA once, then builds the similar lists both ways
side by side: the old merge (cf first for movies with >= 5 ratings, then content, then popular)
and latentlens.build.export.similar's blend. For each, the mean genre Jaccard overlap between a movie and
its top-K similar movies, over movies with < 20 ratings and over those with >= 20. Then times
the export's `because` for the popularity champion's top-100 of every user, and its size.

    python bench/bench_similar_genres.py DATA [--k 10]
"""

from __future__ import annotations

import argparse
import sys
import time

import docs_results
import numpy as np
import polars as pl

from latentlens.build.data.loader import LoadOptions, load_movielens
from latentlens.build.export import because, tables
from latentlens.build.export.similar import SimilarSettings, blended_neighbours
from latentlens.build.interactions import to_interactions
from latentlens.build.models import registry
from latentlens.build.models.popularity import PopularityConfig, popular_lists
from latentlens.build.stages.evaluate import fit_context
from latentlens.handler.schema import BECAUSE_N


def genre_overlap(similar: pl.DataFrame, genres: list[list[str]], ids: np.ndarray, n_ratings: np.ndarray,
                  k: int) -> dict:
    index = {int(m): i for i, m in enumerate(ids)}
    rows = similar.filter(pl.col("rank") <= k)
    a = [set(genres[index[m]]) for m in rows["movie_id"].to_list()]
    b = [set(genres[index[m]]) for m in rows["similar_movie_id"].to_list()]
    jac = np.array([len(x & y) / len(x | y) if x else np.nan for x, y in zip(a, b, strict=True)])
    frame = pl.DataFrame({"movie": rows["movie_id"], "j": jac}).drop_nulls().filter(pl.col("j").is_not_nan())
    per_movie = frame.group_by("movie").agg(pl.col("j").mean())
    n = np.array([n_ratings[index[m]] for m in per_movie["movie"].to_list()])
    j = per_movie["j"].to_numpy()
    return {"< 20": (int((n < 20).sum()), float(j[n < 20].mean())),
            ">= 20": (int((n >= 20).sum()), float(j[n >= 20].mean()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--similar-n", type=int, default=50)
    args = parser.parse_args()
    data = load_movielens(args.data, LoadOptions())
    full = to_interactions(data)
    inputs = registry.ModelInputs(data=data, items=full.items)
    specs = registry.all_specs()
    fitted = {}
    for name in ("itemknn", "content"):
        t = time.perf_counter()
        fitted[name] = specs[name].make(inputs).fit(full, fit_context(42, name))
        print(f"fit {name}: {time.perf_counter() - t:.1f} s")
    all_items = np.arange(full.n_items)
    n_ratings = np.bincount(full.item_idx, minlength=full.n_items)
    lookup = dict(zip(data.movies["movie_id"].to_list(), data.movies["genres"].to_list(), strict=True))
    genres = [lookup.get(int(i), []) or [] for i in full.items.ids]
    pop = popular_lists(full, genres, 100, PopularityConfig(score="weighted"))
    head = slice(0, args.similar_n + 1)
    shape = (full.n_items, pop[None][0][head].size)
    popular = ("popular", np.broadcast_to(pop[None][0][head], shape), np.broadcast_to(pop[None][1][head], shape))
    cf = fitted["itemknn"].similar_items(all_items, args.similar_n)
    content = fitted["content"].similar_items(all_items, args.similar_n)

    t = time.perf_counter()
    before = tables.similar_movies(full.items, n_ratings, 5, args.similar_n,
                                   [("cf", *cf), ("content", *content), popular])
    t_before = time.perf_counter() - t
    t = time.perf_counter()
    blended = blended_neighbours(cf, content, full.binary, n_ratings, 5, args.similar_n, SimilarSettings())
    after = tables.similar_movies(full.items, n_ratings, 5, args.similar_n, [popular], primary=blended)
    t_after = time.perf_counter() - t
    for label, frame, secs in (("before", before, t_before), ("after", after, t_after)):
        overlap = genre_overlap(frame, genres, full.items.ids, n_ratings, args.k)
        parts = ", ".join(f"{g} ratings: {m:,} movies, Jaccard {j:.3f}" for g, (m, j) in overlap.items())
        print(f"{label:<7} similar lists in {secs:5.1f} s; top-{args.k} genre overlap: {parts}")

    users = np.arange(full.n_users)
    items, _ = fitted["itemknn"].recommend(users, full.histories, 100, n_threads=2)
    valid = items >= 0
    rows, cols = np.nonzero(valid)
    t = time.perf_counter()
    reasons = because.explain(rows, items[rows, cols], full,
                              [fitted["itemknn"].neighbours_, fitted["content"].neighbours_], BECAUSE_N)
    t_because = time.perf_counter() - t
    column = tables.because_column(reasons, full.items)
    frame = pl.DataFrame({"user_id": full.users.ids[rows].astype(np.int32), "because": column})
    import duckdb
    con = duckdb.connect(":memory:")
    con.register("f", frame.to_arrow())
    print(f"because: {rows.size:,} recommendations (item-kNN top-100) in {t_because:.1f} s, "
          f"{(reasons.items[:, 0] >= 0).mean():.1%} with a reason, "
          f"{int((reasons.items >= 0).sum()):,} entries ({frame.estimated_size() / 1e6:.0f} MB in memory)")
    con.close()


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
