"""Turn the build's dense-index outputs into the artifact's public tables (polars frames)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from latentlens.build.data.tables import MovieLensData
from latentlens.build.export.because import Reasons
from latentlens.build.interactions import Interactions, Vocabulary
from latentlens.handler.schema import BECAUSE_RANKS, REASON_RECENT, REASON_SIMILAR, search_key


def movies_table(data: MovieLensData) -> pl.DataFrame:
    """movies + links + rating stats + the folded search key the handler's search uses."""
    stats = data.ratings.group_by("movie_id").agg(pl.len().alias("n_ratings"),
                                                  pl.col("rating").mean().alias("mean_rating"))
    return movies_with_stats(data.movies, data.links, stats)


def movies_with_stats(movies: pl.DataFrame, links: pl.DataFrame, stats: pl.DataFrame) -> pl.DataFrame:
    """The movies table from the release's movies and links and (movie_id, n_ratings, mean_rating) however an
    engine counted them (polars in-process, Spark on its engine)."""
    stats = stats.select(pl.col("movie_id").cast(pl.Int32), pl.col("n_ratings").cast(pl.Int32),
                         pl.col("mean_rating").cast(pl.Float64))
    links = links.select("movie_id", "imdb_id", "tmdb_id") if links.height else pl.DataFrame(
        schema={"movie_id": pl.Int32, "imdb_id": pl.Utf8, "tmdb_id": pl.Int32})
    movies = (
        movies.select("movie_id", "title", "display_title", "year", "genres")
        .join(links, on="movie_id", how="left")
        .join(stats, on="movie_id", how="left")
        .with_columns(pl.col("n_ratings").fill_null(0))
    )
    keys = [search_key(f"{d} | {t}")
            for t, d in zip(movies["title"].to_list(), movies["display_title"].to_list(), strict=True)]
    return movies.with_columns(pl.Series("search_key", keys, dtype=pl.Utf8)).sort("movie_id")


def ranked_frame(key_name: str, key_ids: np.ndarray, item_name: str, items: np.ndarray,
                 scores: np.ndarray, item_vocab: Vocabulary,
                 extra: Callable[[np.ndarray, np.ndarray], dict[str, pl.Series]] | None = None) -> pl.DataFrame:
    """(key, rank, item, score) rows from 2-D top-n blocks, dropping padding (-1).

    `extra(rows, cols)` may add columns for the kept entries (block row and column of each)."""
    valid = items >= 0
    rows, cols = np.nonzero(valid)
    frame = pl.DataFrame({
        key_name: key_ids[rows].astype(np.int32),
        "rank_in": cols.astype(np.int32),
        item_name: item_vocab.ids[items[rows, cols]].astype(np.int32),
        "score": scores[rows, cols].astype(np.float64),
    })
    added = extra(rows, cols) if extra is not None else {}
    if added:
        frame = frame.with_columns(**added)
    # re-rank 1..m within each list so ranks stay contiguous after dropping padding
    return (
        frame.sort([key_name, "rank_in"])
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over(key_name).alias("rank"))
        .select(key_name, "rank", item_name, "score", *added)
    )


def because_column(reasons: Reasons, item_vocab: Vocabulary) -> pl.Series:
    """Reasons as the artifact's `because` column: a list of {movie_id, rating, kind} per pair, built as one
    Arrow list array from the flat entries (no Python object per row)."""
    import pyarrow as pa

    kept = reasons.items >= 0
    offsets = np.concatenate([[0], np.cumsum(kept.sum(axis=1))]).astype(np.int32)
    recent = reasons.recent[kept] if reasons.recent is not None else np.zeros(int(kept.sum()), dtype=bool)
    kinds = pa.DictionaryArray.from_arrays(pa.array(recent.astype(np.int8)), pa.array([REASON_SIMILAR, REASON_RECENT]))
    entries = pa.StructArray.from_arrays(
        [pa.array(item_vocab.ids[reasons.items[kept]].astype(np.int32)), pa.array(reasons.ratings[kept]),
         kinds.cast(pa.string())],
        names=["movie_id", "rating", "kind"])
    return pl.Series("because", pa.ListArray.from_arrays(pa.array(offsets), entries))


def user_recommendations(full: Interactions, items: np.ndarray, scores: np.ndarray,
                         explain: Callable[[np.ndarray, np.ndarray], Reasons],
                         explained_ranks: int = BECAUSE_RANKS) -> pl.DataFrame:
    """Each user's top-n with `because`: `explain(user_idx, item_idx)` of the pairs ranked 1..explained_ranks
    in their list; later ranks get an empty list (see schema.BECAUSE_RANKS: the column's size)."""
    def because(rows: np.ndarray, cols: np.ndarray) -> dict[str, pl.Series]:
        # rows come sorted (np.nonzero), so a pair's 0-based rank is its offset from its row's first pair
        rank = np.arange(rows.size) - np.searchsorted(rows, rows)
        head = np.flatnonzero(rank < explained_ranks)
        explained = explain(rows[head], items[rows[head], cols[head]])
        width = explained.items.shape[1]
        recent = np.zeros((rows.size, width), dtype=bool)
        if explained.recent is not None:
            recent[head] = explained.recent
        reasons = Reasons(np.full((rows.size, width), -1, dtype=np.int64),
                          np.zeros((rows.size, width), dtype=np.float32), recent)
        reasons.items[head], reasons.ratings[head] = explained.items, explained.ratings
        return {"because": because_column(reasons, full.items)}

    return ranked_frame("user_id", full.users.ids, "movie_id", items, scores, full.items, extra=because)


def similar_movies(
    items_vocab: Vocabulary,
    n_ratings: np.ndarray,
    min_cf_ratings: int,
    n: int,
    sources: list[tuple[str, np.ndarray, np.ndarray]],
    primary: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Merge neighbour lists in priority order (e.g. cf, content, popular) into n per movie.

    `primary` (item, cand, score, pos, source rows, e.g. the blended lists of latentlens.build.export.similar)
    comes before every source. A source named "cf" only counts for movies with at least
    `min_cf_ratings` ratings; the others fill what is left. Never the movie itself, never a movie twice.
    """
    parts = []
    n_items = len(items_vocab)
    if primary is not None:
        parts.append(primary.select(
            pl.col("item").cast(pl.Int32), pl.col("cand").cast(pl.Int64), pl.col("score").cast(pl.Float64),
            pl.lit(0, dtype=pl.Int8).alias("priority"), pl.col("pos").cast(pl.Int32), pl.col("source").cast(pl.Utf8)))
    for priority, (source, idx, score) in enumerate(sources, start=len(parts)):
        k = idx.shape[1]
        rows = np.repeat(np.arange(n_items), k)
        frame = pl.DataFrame({
            "item": rows.astype(np.int32),
            "cand": idx.reshape(-1).astype(np.int64),
            "score": score.reshape(-1).astype(np.float64),
            "priority": np.full(rows.shape[0], priority, dtype=np.int8),
            "pos": np.tile(np.arange(k, dtype=np.int32), n_items),
            "source": np.full(rows.shape[0], source),
        })
        if source == "cf":
            eligible = np.flatnonzero(n_ratings >= min_cf_ratings).astype(np.int32)
            frame = frame.filter(pl.col("item").is_in(eligible) & (pl.col("score") > 0))
        parts.append(frame)
    merged = (
        pl.concat(parts)
        .filter((pl.col("cand") >= 0) & (pl.col("cand") != pl.col("item")) & pl.col("score").is_finite())
        .sort(["item", "priority", "pos"])
        .unique(subset=["item", "cand"], keep="first", maintain_order=True)
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("item").alias("rank"))
        .filter(pl.col("rank") <= n)
    )
    ids = items_vocab.ids
    return merged.select(
        pl.col("item").map_batches(lambda s: pl.Series(ids[s.to_numpy()].astype(np.int32))).alias("movie_id"),
        "rank",
        pl.col("cand").map_batches(lambda s: pl.Series(ids[s.to_numpy()].astype(np.int32))).alias("similar_movie_id"),
        "score",
        "source",
    )


def next_movies(items_vocab: Vocabulary, idx: np.ndarray, scores: np.ndarray) -> pl.DataFrame:
    """(movie_id, rank, next_movie_id, score) from the NEXT_MOVIES model's top-n blocks (row i: catalogue item
    i's followers, -1 padded), keeping positive finite scores and never the movie itself."""
    rows = np.arange(idx.shape[0])[:, None]
    keep = (idx >= 0) & (idx != rows) & np.isfinite(scores) & (scores > 0)
    return ranked_frame("movie_id", items_vocab.ids, "next_movie_id", np.where(keep, idx, -1),
                        np.where(keep, scores, 0.0), items_vocab)


def popular_movies(lists: dict[str | None, tuple[np.ndarray, np.ndarray]], items_vocab: Vocabulary) -> pl.DataFrame:
    frames = []
    for genre, (idx, score) in lists.items():
        keep = idx >= 0
        m = int(keep.sum())
        frames.append(pl.DataFrame({
            "genre": pl.Series([genre] * m, dtype=pl.Utf8),
            "rank": np.arange(1, m + 1, dtype=np.int32),
            "movie_id": items_vocab.ids[idx[keep]].astype(np.int32),
            "score": np.asarray(score)[keep].astype(np.float64),
        }))
    return pl.concat(frames)


def model_metrics(rows: list[tuple[str, str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"model": pl.Utf8, "protocol": pl.Utf8, "metric": pl.Utf8,
                                      "value": pl.Float64}, orient="row")
