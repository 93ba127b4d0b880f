"""What the order of ratings carries in one data directory, the figures the synthetic generator's order must
match before its sequence gain can (docs/data.md, "The order's worth"):

- **shared successions**: the share of consecutive rating pairs (a, then b) that at least 3 users have in that
  order, against the same figure with each user's ratings shuffled (what taste alone gives);
- **popular first**: the mean log popularity of the movies rated in each tenth of a user's history;
- **where the gain is**: the hybrid's paired NDCG@10 gain from its sequence part by the user's number of
  sessions (a gap of an hour or more starts one), on the build's temporal holdout.

    python bench/order_signature.py DATA [--seed 42]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import docs_results
import numpy as np
import polars as pl
from bench_sequence_gain import per_user_ndcg
from protocol_split import build_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latentlens.build.evaluate.topn import relevant_matrix
from latentlens.build.models import registry
from latentlens.build.stages.evaluate import fit_context

SESSION_GAP = 3600  # seconds: a longer pause starts a new session
SHARED_BY = 3       # a succession is shared when this many users have it


def ordered_ratings(data_dir: Path) -> pl.DataFrame:
    """Ratings in the build's order (by time, ties by file line) with each movie's popularity and each user's
    number of sessions."""
    ratings = pl.read_csv(data_dir / "ratings.csv").with_row_index("line").sort(["userId", "timestamp", "line"])
    ratings = ratings.with_columns(popularity=pl.len().over("movieId"),
                                   gap=pl.col("timestamp").diff().over("userId"),
                                   position=pl.int_range(pl.len()).over("userId") / pl.len().over("userId"))
    sessions = ratings.group_by("userId").agg(sessions=1 + (pl.col("gap") >= SESSION_GAP).sum())
    return ratings.join(sessions, on="userId")


def shared_succession_share(ratings: pl.DataFrame, column: str) -> float:
    """The share of consecutive pairs in `column`'s order that SHARED_BY or more users have."""
    pairs = ratings.with_columns(previous=pl.col(column).shift().over("userId")).drop_nulls("previous")
    counts = pairs.group_by("previous", column).agg(users=pl.col("userId").n_unique())
    return float((pairs.join(counts, on=["previous", column])["users"] >= SHARED_BY).mean())


def print_order_figures(ratings: pl.DataFrame, seed: int) -> None:
    # each user's movies in a random order (an independent draw per rating: `shuffle().over()` would give users
    # with as many ratings the same permutation, which keeps some of the shared order)
    ratings = ratings.with_columns(noise=pl.Series(np.random.default_rng(seed).random(ratings.height)))
    ratings = ratings.with_columns(shuffled=pl.col("movieId").sort_by("noise").over("userId"))
    for label, rows in (("one session", ratings.filter(pl.col("sessions") == 1)),
                        ("several sessions", ratings.filter(pl.col("sessions") > 1))):
        actual, shuffled = shared_succession_share(rows, "movieId"), shared_succession_share(rows, "shuffled")
        tenths = (rows.group_by((pl.col("position") * 10).floor().alias("tenth"))
                  .agg(pl.col("popularity").log().mean()).sort("tenth")["popularity"].to_list())
        print(f"  {label:<17} {rows['userId'].n_unique():>6} users  pairs shared by >= {SHARED_BY} users: "
              f"{actual:.2%} in order, {shuffled:.2%} shuffled ({actual / max(shuffled, 1e-12):.1f}x)")
        print(f"  {'':<17} mean log popularity by tenth of the history: {' '.join(f'{v:.2f}' for v in tenths)}")


def print_gain_by_sessions(data_dir: Path, ratings: pl.DataFrame, seed: int) -> None:
    built = build_split(data_dir, seed)
    evaluation, split = built.evaluation, built.split
    inputs = registry.ModelInputs(data=built.data, items=built.full.items, scale=built.plan.scale, k=evaluation.k,
                                  relevance_threshold=evaluation.relevance_threshold)
    scores = {}
    for sequence in (True, False):
        model = registry.all_specs()["hybrid"].make(inputs)
        if not sequence:
            model.config = model.config.model_copy(update={"sequence": None})
        model.fit(split.train, fit_context(seed, "hybrid"))
        scores[sequence] = per_user_ndcg(model, split.train, split.test, evaluation)
    relevant = relevant_matrix(split.test, evaluation.relevance_threshold)
    users = np.asarray(split.train.users.ids)[np.flatnonzero(np.diff(relevant.indptr) > 0)]
    per_user = dict(ratings.group_by("userId").agg(pl.col("sessions").first()).iter_rows())
    sessions = np.array([per_user[int(u)] for u in users])
    diff = scores[True] - scores[False]
    print(f"  hybrid NDCG@{evaluation.k}: {scores[True].mean():.4f} with its sequence part, "
          f"{scores[False].mean():.4f} without; by the user's sessions:")
    for label, chosen in (("1", sessions == 1), ("2-5", (sessions >= 2) & (sessions <= 5)), ("6+", sessions > 5)):
        d = diff[chosen]
        se = d.std(ddof=1) / np.sqrt(d.size) if d.size > 1 else float("nan")
        print(f"    {label:>4} sessions {d.size:>6} users  without {scores[False][chosen].mean():.4f}  "
              f"paired gain {d.mean():+.4f} ± {se:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    ratings = ordered_ratings(args.data)
    print(f"{args.data}: {ratings.height:,} ratings")
    print_order_figures(ratings, args.seed)
    print_gain_by_sessions(args.data, ratings, args.seed)


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
