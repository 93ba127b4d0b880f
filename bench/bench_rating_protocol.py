"""The large plan's rating protocols side by side on one data set: the holdout at the real
density (build/evaluate/protocol.py, the plan's default) and the previous 3-fold CV on a
uniform 1M-rating sample, for the same models; RMSE, its standard error, training size, time.

    python bench/bench_rating_protocol.py DATA [--models baseline,biased_mf,knn_baseline]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import docs_results

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latentlens.build.data.loader import load_movielens
from latentlens.build.evaluate.protocol import evaluation_data
from latentlens.build.interactions import to_interactions
from latentlens.build.models import registry
from latentlens.build.scale import plan_for
from latentlens.build.settings import EvaluationSettings
from latentlens.build.stages.evaluate import evaluate_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--models", default="baseline,biased_mf,knn_baseline")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    data = load_movielens(args.data)
    full = to_interactions(data)
    plan = plan_for("large")
    inputs = registry.ModelInputs(data=data, items=full.items, scale="large")
    protocols = {
        "holdout (real density)": plan.apply(EvaluationSettings()),
        "3-fold CV, 1M sample": plan.apply(EvaluationSettings(folds=3, explicit=frozenset({"folds"}))),
    }
    print(f"{full.n_ratings:,} ratings, {full.n_users:,} users")
    for label, evaluation in protocols.items():
        split = evaluation_data(full, evaluation, args.seed)
        print(f"\n{label}: {split.caption()}")
        for spec in registry.select(tuple(args.models.split(","))):
            started = time.perf_counter()
            ev = evaluate_model(spec, inputs, split.cv_data, split.train, split.test, evaluation, args.seed,
                                topn=False, rating_holdout=split.rating_holdout)
            m = ev.rating_mean
            se = f" ± {m['rmse_se']:.4f}" if "rmse_se" in m else ""
            print(f"  {spec.name:<14} RMSE {m['rmse']:.4f}{se}  MAE {m['mae']:.4f}  "
                  f"train {ev.extra.get('rating_train_ratings', split.cv_data.n_ratings):,}  "
                  f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
