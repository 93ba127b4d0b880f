"""`because` on Spark: the user's rated movies that contributed most to each pick, computed per user.

The in-process definition (build/export/because.py) with the similarity it can afford at scale:
for a pick j and each movie i the user rated, contribution = cos(j, i) x (rating - the user's
mean rating), cos over the implicit ALS item factors (the factors similar_movies uses, in place
of item-kNN's co-occurrence neighbours, which the Spark engine does not build). Only positive
similarities of movies rated above the user's mean count; the schema's BECAUSE_N largest are
kept, ties by the lower movie id; a pick with none gets an empty list.

Each user's picks and above-mean ratings meet in one row (two groupBys and a join, no shuffle
of users x items); one numpy product picks x rated per user runs in an executor (mapInArrow),
so the driver never holds the ratings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from latentlens.handler.schema import REASON_SIMILAR

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

REASON = "struct<movie_id:int, rating:float, kind:string>"  # kind: always "similar" (no next-movies model here)
OUTPUT = f"user_id int, rank int, movie_id int, score double, because array<{REASON}>"


def with_because(recs: DataFrame, ratings: DataFrame, item_factors: DataFrame, n: int,
                 explained_ranks: int) -> DataFrame:
    """`recs` (user_id, rank, movie_id, score) with a `because` list of up to n {movie_id, rating};
    picks ranked after `explained_ranks` get an empty list, as in-process (schema.BECAUSE_RANKS)."""
    from pyspark.sql import functions as F

    factors = item_factors.select(F.col("id").cast("int").alias("movie_id"), "features")
    rated = ratings.select("user_id", "movie_id", F.col("rating").cast("float").alias("rating"))
    means = rated.groupBy("user_id").agg(F.avg("rating").alias("mean"))
    liked = (rated.join(means, "user_id").where(F.col("rating") > F.col("mean"))
             .join(factors, "movie_id")
             .groupBy("user_id")
             .agg(F.collect_list(F.struct("movie_id", "rating", (F.col("rating") - F.col("mean")).alias("centred"),
                                          "features")).alias("rated")))
    picks = (recs.join(factors, "movie_id", "left")
             .groupBy("user_id")
             .agg(F.collect_list(F.struct("rank", "movie_id", "score", "features")).alias("picks")))
    rows = picks.join(liked, "user_id", "left")
    return rows.mapInArrow(lambda batches: _explain_batches(batches, n, explained_ranks), OUTPUT)


def _explain_batches(batches, n: int, explained_ranks: int):
    """Arrow in, Arrow out: each batch's nested lists read as flat numpy arrays (no Python object
    per factor value), one numpy product per user."""
    import pyarrow as pa

    reason_type = pa.struct([("movie_id", pa.int32()), ("rating", pa.float32()), ("kind", pa.string())])
    for batch in batches:
        picks = _flat(batch.column("picks"), ("rank", "movie_id", "score", "features"))
        rated = _flat(batch.column("rated"), ("movie_id", "rating", "centred", "features"))
        user_ids = batch.column("user_id").to_numpy(zero_copy_only=False).astype(np.int32)
        users = np.repeat(user_ids, np.diff(picks["offsets"]))
        ids, stars, counts = [], [], []
        for u in range(batch.num_rows):
            p = slice(picks["offsets"][u], picks["offsets"][u + 1])
            r = slice(rated["offsets"][u], rated["offsets"][u + 1])
            explained = picks["rank"][p] <= explained_ranks
            top_ids, top_stars, top_counts = explain_user(
                picks["movie_id"][p][explained], picks["features"][p][explained], rated["movie_id"][r],
                rated["rating"][r], rated["centred"][r], rated["features"][r], n)
            pick_counts = np.zeros(explained.size, np.int64)
            pick_counts[explained] = top_counts  # reasons stay in pick order: unexplained picks add none
            ids.append(top_ids)
            stars.append(top_stars)
            counts.append(pick_counts)
        flat_ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        flat_stars = np.concatenate(stars) if stars else np.zeros(0, np.float32)
        offsets = np.concatenate([[0], np.cumsum(np.concatenate(counts) if counts else [])]).astype(np.int32)
        entries = pa.StructArray.from_arrays(
            [pa.array(flat_ids.astype(np.int32)), pa.array(flat_stars.astype(np.float32)),
             pa.array([REASON_SIMILAR] * flat_ids.size, pa.string())], fields=list(reason_type))
        yield pa.RecordBatch.from_arrays(
            [pa.array(users), pa.array(picks["rank"].astype(np.int32)), pa.array(picks["movie_id"].astype(np.int32)),
             pa.array(picks["score"].astype(np.float64)), pa.ListArray.from_arrays(pa.array(offsets), entries)],
            names=["user_id", "rank", "movie_id", "score", "because"])


def _flat(column, fields: tuple[str, ...]) -> dict[str, np.ndarray]:
    """A list<struct> column as per-row offsets and one flat numpy array per field (NULL lists
    are empty; `features` a (rows, rank) matrix, zeros where the factor is NULL)."""
    import pyarrow.compute as pc

    lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)
    out: dict[str, np.ndarray] = {"offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)}
    struct = pc.list_flatten(column)
    names = [struct.type.field(i).name for i in range(struct.type.num_fields)]
    children = dict(zip(names, struct.flatten(), strict=True))
    for name in fields:
        child = children[name]
        if name != "features":
            out[name] = child.to_numpy(zero_copy_only=False)
            continue
        sizes = pc.fill_null(pc.list_value_length(child), 0).to_numpy(zero_copy_only=False)
        dim = int(sizes.max()) if sizes.size else 0
        matrix = np.zeros((len(child), dim), dtype=np.float64)
        values = pc.list_flatten(child).to_numpy(zero_copy_only=False).astype(np.float64)
        matrix[sizes == dim] = values.reshape(-1, dim) if dim else values.reshape(0, 0)
        out[name] = matrix
    return out


def explain_user(pick_ids: np.ndarray, pick_vecs: np.ndarray, rated_ids: np.ndarray, stars: np.ndarray,
                 centred: np.ndarray, rated_vecs: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One user's reasons: for each pick, the n largest positive cos(pick, rated) x centred among
    the rated movies, ties by the lower movie id, never the pick itself. Returns the reasons'
    movie ids and stars, flat in pick order, and how many each pick has."""
    if not rated_ids.size or not pick_ids.size:
        return np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(pick_ids.size, np.int64)
    order = np.argsort(rated_ids, kind="stable")
    rated_ids, stars, centred, rated_vecs = rated_ids[order], stars[order], centred[order], rated_vecs[order]
    sims = _unit(pick_vecs) @ _unit(rated_vecs).T
    contrib = np.where(sims > 0, sims * centred[None, :], 0.0)
    contrib[pick_ids[:, None] == rated_ids[None, :]] = 0.0
    k = min(n, contrib.shape[1])
    top = np.argsort(-contrib, axis=1, kind="stable")[:, :k]  # stable: equal contributions keep id order
    kept = np.take_along_axis(contrib, top, axis=1) > 0
    chosen = top[kept]  # row-major: pick by pick, best first
    return rated_ids[chosen], stars[chosen], kept.sum(axis=1)


def _unit(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms > 0, norms, 1.0)
