"""The hybrid with and without its sequence part (build/models/transitions.py) on the build's own temporal
holdout: NDCG@10 of each with its per-user standard error, the paired per-user difference and the relative
gain (the figure the synthetic fixture's temporal calibration holds to the real data's).

    python bench/bench_sequence_gain.py DATA [--seed 42]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import docs_results
import numpy as np
from protocol_split import build_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latentlens.build.evaluate.metrics import hit_matrix, ndcg_at
from latentlens.build.evaluate.topn import relevant_matrix
from latentlens.build.models import registry
from latentlens.build.settings import EvaluationSettings
from latentlens.build.stages.evaluate import fit_context


def per_user_ndcg(model, train, test, evaluation: EvaluationSettings) -> np.ndarray:
    """NDCG@k of every evaluated user (those with a relevant held-out rating), as the build's protocol scores."""
    relevant = relevant_matrix(test, evaluation.relevance_threshold)
    users = np.flatnonzero(np.diff(relevant.indptr) > 0)
    histories = train.histories.rows(users)
    items, _ = model.recommend(users, histories, evaluation.k, exclude=train.matrix[users], n_threads=2)
    rel = relevant[users]
    return ndcg_at(hit_matrix(items, rel), np.diff(rel.indptr), evaluation.k)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    built = build_split(args.data, args.seed)
    data, full, plan, evaluation, split = built.data, built.full, built.plan, built.evaluation, built.split
    inputs = registry.ModelInputs(data=data, items=full.items, scale=plan.scale, k=evaluation.k,
                                  relevance_threshold=evaluation.relevance_threshold)
    print(f"{data.name}: {full.n_ratings:,} ratings, {split.caption()}")
    scores = {}
    for label, sequence in (("hybrid", True), ("hybrid without sequence", False)):
        model = registry.all_specs()["hybrid"].make(inputs)
        if not sequence:
            model.config = model.config.model_copy(update={"sequence": None})
        started = time.perf_counter()
        model.fit(split.train, fit_context(args.seed, "hybrid"))
        scores[label] = per_user_ndcg(model, split.train, split.test, evaluation)
        s = scores[label]
        print(f"  {label:<24} NDCG@{evaluation.k} {s.mean():.4f} ± {s.std(ddof=1) / np.sqrt(s.size):.4f}  "
              f"weights {model.chosen()['weights']}  ({time.perf_counter() - started:.0f} s)")
    with_seq, without = scores["hybrid"], scores["hybrid without sequence"]
    diff = with_seq - without
    se = diff.std(ddof=1) / np.sqrt(diff.size)
    print(f"  paired difference {diff.mean():+.4f} ± {se:.4f} over {diff.size} users; "
          f"relative gain {with_seq.mean() / without.mean() - 1:+.1%}")


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
