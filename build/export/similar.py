"""Similar movies for the artifact: item-kNN neighbours that enough people rated together, blended with
content by how much rating evidence a movie has.

Item-kNN alone gave a rarely rated movie whatever its few raters also watched (Lord of the Rings
(1978), 15 ratings: Home Alone 2, Patch Adams), and a 2-rating movie a neighbour resting on one
co-rater. So:

- a CF neighbour counts only with at least `min_co_raters` people who rated both movies. Counted
  exactly for every pair in which either movie has fewer than `exact_below` ratings (one sparse
  product over those movies' rows only: rare rows are cheap); a pair of two movies above that is
  not counted, since their shrunk cosine cannot rank high on a handful of co-raters;
- scores are blended per movie: w * cf + (1 - w) * content, each scaled to its list's best,
  with w = n / (n + blend_ratings) for a movie with n ratings (15 ratings and blend_ratings 20:
  w = 0.43; 1,000 ratings: 0.98). `source` names the larger part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

PAIRS_PER_CHUNK = 1 << 16


@dataclass(frozen=True)
class SimilarSettings:
    min_co_raters: int = 5
    exact_below: int = 200
    blend_ratings: float = 20.0


def co_raters(binary: sp.csr_matrix, items: np.ndarray, cands: np.ndarray, n_ratings: np.ndarray,
              exact_below: int) -> np.ndarray:
    """People who rated both movies of each pair (items[p], cands[p]); -1 where both movies have
    `exact_below` ratings or more (not counted).

    For each counted pair, every rater of its rarer movie is looked up in the other movie's column
    (a binary search in that user's sorted row): at most `exact_below` lookups per pair, so the cost
    follows the number of pairs, not the size of the catalogue."""
    out = np.full(items.shape[0], -1, dtype=np.int64)
    rare_side = np.where(n_ratings[items] <= n_ratings[cands], items, cands)
    other = np.where(rare_side == items, cands, items)
    todo = np.flatnonzero(n_ratings[rare_side] < exact_below)
    if not todo.size:
        return out
    by_item = binary.T.tocsr()  # items x users
    user_rows = binary.tocsr()
    user_rows.sort_indices()
    out[todo] = 0
    for start in range(0, todo.size, PAIRS_PER_CHUNK):
        pairs = todo[start:start + PAIRS_PER_CHUNK]
        raters = by_item[rare_side[pairs]]  # pairs x users: the rarer movie's raters
        pair_of = np.repeat(np.arange(pairs.size), np.diff(raters.indptr))
        if not pair_of.size:
            continue
        hit = np.asarray(user_rows[raters.indices, other[pairs][pair_of]]).ravel() != 0
        out[pairs] = np.bincount(pair_of, weights=hit, minlength=pairs.size).astype(np.int64)
    return out


def blended_neighbours(cf: tuple[np.ndarray, np.ndarray], content: tuple[np.ndarray, np.ndarray],
                       binary: sp.csr_matrix, n_ratings: np.ndarray, min_cf_ratings: int, n: int,
                       settings: SimilarSettings) -> pl.DataFrame:
    """Per movie, up to n candidates (item, cand, score, source) ranked by the blended score."""
    n_items = n_ratings.shape[0]

    def entries(idx: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = np.repeat(np.arange(n_items), idx.shape[1])
        cand, val = idx.reshape(-1).astype(np.int64), score.reshape(-1).astype(np.float64)
        keep = (cand >= 0) & (cand != rows) & np.isfinite(val) & (val > 0)
        return rows[keep], cand[keep], val[keep]

    ci, cc, cv = entries(*cf)
    ok = n_ratings[ci] >= min_cf_ratings
    ci, cc, cv = ci[ok], cc[ok], cv[ok]
    co = co_raters(binary, ci, cc, n_ratings, settings.exact_below)
    ok = (co < 0) | (co >= settings.min_co_raters)
    ok &= n_ratings[cc] >= settings.min_co_raters  # co-raters can never exceed a movie's own raters
    ci, cc, cv = ci[ok], cc[ok], cv[ok]
    ti, tc, tv = entries(*content)

    def scaled(rows: np.ndarray, vals: np.ndarray) -> np.ndarray:
        best = np.zeros(n_items)
        np.maximum.at(best, rows, vals)
        return vals / best[rows]

    w = n_ratings / (n_ratings + settings.blend_ratings)
    w = np.where(n_ratings >= min_cf_ratings, w, 0.0)
    frame = pl.concat([
        pl.DataFrame({"item": ci, "cand": cc, "cf": w[ci] * scaled(ci, cv), "ct": np.zeros(ci.size)}),
        pl.DataFrame({"item": ti, "cand": tc, "cf": np.zeros(ti.size), "ct": (1 - w[ti]) * scaled(ti, tv)}),
    ])
    blended = (
        frame.group_by(["item", "cand"]).agg(pl.col("cf").sum(), pl.col("ct").sum())
        .with_columns((pl.col("cf") + pl.col("ct")).alias("score"),
                      pl.when(pl.col("cf") >= pl.col("ct")).then(pl.lit("cf")).otherwise(pl.lit("content"))
                      .alias("source"))
        .filter(pl.col("score") > 0)
    )
    # best first, ties by the lower candidate index (as top_n ranks)
    return (
        blended.sort(["item", "score", "cand"], descending=[False, True, False])
        .with_columns(pl.int_range(0, pl.len(), dtype=pl.Int32).over("item").alias("pos"))
        .filter(pl.col("pos") < n)
        .select("item", "cand", "score", "pos", "source")
    )
