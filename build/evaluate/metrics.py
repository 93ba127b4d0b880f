"""Evaluation metrics as plain functions over arrays (no models, no I/O).

Top-N metrics take the recommended item indices (users x k, -1 padded) and the relevant
items as a sparse users x items matrix; they are averaged over users with at least one
relevant item. Gains are binary.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def hit_matrix(recommended: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean users x k: is recommended[u, j] one of user u's relevant items?"""
    relevant = relevant.tocsr()
    relevant.sort_indices()
    n_users, n_items = relevant.shape
    rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(relevant.indptr))
    keys = rows * n_items + relevant.indices.astype(np.int64)  # sorted: CSR with sorted indices
    rec = np.asarray(recommended, dtype=np.int64)
    query = np.arange(rec.shape[0], dtype=np.int64)[:, None] * n_items + rec
    if keys.shape[0] == 0:
        return np.zeros(rec.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(keys, query), keys.shape[0] - 1)
    return (rec >= 0) & (keys[pos] == query)  # -1 padding would alias the previous row's last item


def ndcg_at(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k of each row of a users x k hit matrix, given each row's number of relevant items (> 0):
    DCG with gains 1/log2(rank+1), divided by the ideal DCG of min(k, |relevant|) hits."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k).astype(np.int64) - 1]
    return (hits @ discounts) / ideal


def ranking_metrics(
    recommended: np.ndarray, relevant: sp.csr_matrix, k: int = 10, item_popularity: np.ndarray | None = None,
) -> dict[str, float]:
    """NDCG, precision, recall, MAP and hit rate at k; catalogue coverage; novelty.

    - ndcg: DCG with gains 1/log2(rank+1), divided by the ideal DCG of min(k, |relevant|) hits;
      ndcg_at_k_se: its standard error over users.
    - precision: hits / k; recall: hits / |relevant|.
    - map: sum of precision@j at each hit j, divided by min(k, |relevant|).
    - coverage: distinct recommended items over all rows / number of items.
    - novelty (with `item_popularity`, e.g. training rating counts per item): mean
      -log2(count_i / sum(counts)) over recommended items; counts below 1 count as 1.
    """
    rec = np.asarray(recommended)[:, :k]
    if rec.shape[0] != relevant.shape[0]:
        raise ValueError(f"{rec.shape[0]} recommendation rows for {relevant.shape[0]} users")
    n_rel = np.diff(relevant.tocsr().indptr)
    users = n_rel > 0
    hits = hit_matrix(rec, relevant)[users].astype(np.float64)
    n_rel = n_rel[users].astype(np.float64)
    if rec.shape[1] < k:  # fewer columns than k: pad as misses
        hits = np.pad(hits, ((0, 0), (0, k - rec.shape[1])))
    n_hits = hits.sum(axis=1)
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    out = {
        "ndcg": ndcg_at(hits, n_rel, k),
        "precision": n_hits / k,
        "recall": n_hits / n_rel,
        "map": (precision_at * hits).sum(axis=1) / np.minimum(n_rel, k),
        "hit_rate": (n_hits > 0).astype(np.float64),
    }
    result = {f"{name}_at_{k}": float(v.mean()) if v.size else 0.0 for name, v in out.items()}
    # the per-user standard error of the NDCG (users are the unit that varies): shown beside it everywhere
    ndcg = out["ndcg"]
    result[f"ndcg_at_{k}_se"] = float(ndcg.std(ddof=1) / np.sqrt(ndcg.size)) if ndcg.size > 1 else 0.0
    valid = rec[rec >= 0]
    result["coverage"] = float(np.unique(valid).shape[0] / relevant.shape[1])
    if item_popularity is not None:
        counts = np.maximum(np.asarray(item_popularity, dtype=np.float64), 1.0)
        info = -np.log2(counts / counts.sum())
        result["novelty"] = float(info[valid].mean()) if valid.size else 0.0
    result["n_users"] = float(users.sum())
    return result


def rmse(pred: np.ndarray, true: np.ndarray) -> float:
    """Root mean squared error."""
    diff = np.asarray(pred, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    return float(np.sqrt(np.mean(diff * diff)))


def mae(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(np.asarray(pred, dtype=np.float64) - np.asarray(true, dtype=np.float64))))
