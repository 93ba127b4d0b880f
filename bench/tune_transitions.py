"""The transitions model's settings chosen on a validation split carved from the training split (the
build's temporal rule applied again to the training ratings), then scored once on the test split beside
EASE: how the defaults in build/models/transitions.py were chosen, repeatable on any data.

    python bench/tune_transitions.py DATA [--seed 42] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import docs_results
from protocol_split import build_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latentlens.build.evaluate.protocol import evaluation_data
from latentlens.build.evaluate.topn import evaluate_topn
from latentlens.build.models import registry
from latentlens.build.models.transitions import Transitions, TransitionsConfig
from latentlens.build.settings import EvaluationSettings
from latentlens.build.stages.evaluate import fit_context

GRID = {"source_window": (3, 5, 10), "target_window": (1, 3), "decay": (0.5, 0.8), "l2": (50.0, 200.0)}
QUICK_GRID = {"source_window": (5,), "target_window": (3,), "decay": (0.7,), "rating_weight": (0.0, 1.0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--quick", action="store_true", help="a small grid (smoke run)")
    args = ap.parse_args()
    built = build_split(args.data, args.seed)
    data, full, evaluation, split = built.data, built.full, built.evaluation, built.split
    validation = evaluation_data(split.train, evaluation, args.seed + 1)
    print(f"{data.name}: {full.n_ratings:,} ratings; test {split.caption()}")
    print(f"validation (carved from training): {validation.train.n_ratings:,} train, "
          f"{validation.test.n_ratings:,} held out\n")
    grid = QUICK_GRID if args.quick else GRID
    scored = []
    for values in itertools.product(*grid.values()):
        config = TransitionsConfig(**dict(zip(grid, values, strict=True)))
        ndcg = _ndcg(Transitions(config), validation.train, validation.test, evaluation, args.seed)
        scored.append((ndcg, config))
        print(f"  {config.model_dump()}: validation NDCG@{evaluation.k} {ndcg:.4f}")
    best = max(scored, key=lambda s: s[0])[1]
    print(f"\nchosen on validation: {best.model_dump()}")
    inputs = registry.ModelInputs(data=data, items=full.items)
    ease = registry.all_specs()["ease"].make(inputs)
    for name, model in (("transitions (chosen)", Transitions(best)), ("transitions (defaults)", Transitions()),
                        ("ease", ease)):
        started = time.perf_counter()
        ndcg = _ndcg(model, split.train, split.test, evaluation, args.seed)
        print(f"test NDCG@{evaluation.k} {name:<24} {ndcg:.4f}  ({time.perf_counter() - started:.1f} s)")


def _ndcg(model, train, test, evaluation: EvaluationSettings, seed: int) -> float:
    model.fit(train, fit_context(seed, model.name))
    metrics = evaluate_topn(model, train, test, k=evaluation.k, relevance_threshold=evaluation.relevance_threshold)
    return metrics[f"ndcg_at_{evaluation.k}"]


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
