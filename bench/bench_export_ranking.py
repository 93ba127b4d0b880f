"""What the export's ranking step would cost if a given model were the top-N champion.

    python bench/bench_export_ranking.py /tmp/latentlens-synth-25m --models popularity,itemknn,ease,hybrid

Fits each model on every rating with the build's own factories (the scale plan chosen by the
data size, as `latentlens build` does; the hybrid with the weights its validation chose on
ml-latest-small, so no search is timed), then times `recommend(every user, 100, exclude=seen,
n_threads=2)`, the call the export makes. Prints fit seconds, ranking seconds and users/s.
A bench, not library code: the table goes to stdout, logs to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import docs_results
import numpy as np

from latentlens.build.data.loader import load_movielens
from latentlens.build.interactions import to_interactions
from latentlens.build.models import registry
from latentlens.build.progress import configure_logging
from latentlens.build.scale import choose_scale
from latentlens.build.stages.evaluate import fit_context


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", type=Path)
    ap.add_argument("--models", default="popularity,itemknn,ease,hybrid")
    ap.add_argument("--top-n", type=int, default=100)
    args = ap.parse_args(argv)
    configure_logging()
    data = load_movielens(args.path)
    full = to_interactions(data)
    inputs = registry.ModelInputs(data=data, items=full.items, scale=choose_scale("auto", full.n_ratings))
    specs = registry.all_specs()
    users = np.arange(full.n_users)
    print(f"{args.path}: {full.n_ratings:,} ratings, {full.n_users:,} users, {full.n_items:,} items, "
          f"{inputs.scale} plan")
    print(f"{'model':<12} {'fit s':>8} {'rank s':>8} {'users/s':>9}")
    for name in args.models.split(","):
        model = specs[name].make(inputs)
        if name == "hybrid":
            model.config = model.config.model_copy(update={"weights": {"cf": 1.0, "content": 0.01, "popularity": 0.0}})
        t0 = time.perf_counter()
        model = inputs.fits.fit(model, full, fit_context(42, name))
        t1 = time.perf_counter()
        model.recommend(users, full.histories.rows(users), args.top_n, n_threads=2)
        t2 = time.perf_counter()
        print(f"{name:<12} {t1 - t0:8.1f} {t2 - t1:8.1f} {users.shape[0] / (t2 - t1):9.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
