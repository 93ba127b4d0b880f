"""SASRec (the `deep` extra) under the build's protocol, beside EASE and transitions: NDCG@10 on a validation split
carved from the training split (the build's temporal rule applied again, the split SASRec chooses its epochs on)
and on the build's test split, and the fit's wall and CPU seconds (torch's threads included).

    python bench/bench_sasrec.py DATA [--seed 42] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import docs_results
from protocol_split import build_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latentlens.build.evaluate.splits import temporal_holdout
from latentlens.build.evaluate.topn import evaluate_topn
from latentlens.build.interactions import Interactions
from latentlens.build.models import registry
from latentlens.build.models.base import Recommender
from latentlens.build.models.sasrec import SASRec, SASRecConfig
from latentlens.build.settings import EvaluationSettings
from latentlens.build.stages.evaluate import fit_context


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--quick", action="store_true", help="the --quick configs (a smoke run)")
    args = ap.parse_args()
    built = build_split(args.data, args.seed)
    data, full, evaluation, split = built.data, built.full, built.evaluation, built.split
    inputs = registry.ModelInputs(data=data, items=full.items, quick=args.quick, k=evaluation.k,
                                  relevance_threshold=evaluation.relevance_threshold)
    sasrec = registry.all_specs()["sasrec"].make(inputs)
    assert isinstance(sasrec, SASRec)
    val_train, val = temporal_holdout(split.train, sasrec.config.validation_fraction)
    print(f"{data.name}: {full.n_ratings:,} ratings; test {split.caption()}")
    print(f"validation (carved from training by the same rule): {val_train.n_ratings:,} train, "
          f"{val.n_ratings:,} held out")
    print(f"sasrec config: {sasrec.config.model_dump()}\n")
    print(f"{'model':<12} {'val NDCG@10':>11} {'test NDCG@10':>12} {'fit wall s':>10} {'fit CPU s':>9}")
    for name in ("ease", "transitions", "sasrec"):
        model = registry.all_specs()[name].make(inputs)
        if isinstance(model, SASRec) and model.config.epochs is None:
            test, wall, cpu = _scored(model, split.train, split.test, evaluation, args.seed)
            validation = max(model.validation_.values())  # its own early stopping's, on the split above
        else:
            validation = _scored(model, val_train, val, evaluation, args.seed)[0]
            test, wall, cpu = _scored(registry.all_specs()[name].make(inputs), split.train, split.test, evaluation,
                                      args.seed)
        print(f"{name:<12} {validation:>11.4f} {test:>12.4f} {wall:>10.1f} {cpu:>9.1f}")
        if isinstance(model, SASRec) and model.validation_:
            print(f"\nsasrec chose {model.epochs_} epochs; validation NDCG@10 by epoch: "
                  + ", ".join(f"{v:.4f}" for v in model.validation_.values()))
    print(f"\ntorch {_torch_version()}; SASRecConfig defaults: {SASRecConfig().model_dump()}")


def _scored(model: Recommender, train: Interactions, test: Interactions, evaluation: EvaluationSettings,
            seed: int) -> tuple[float, float, float]:
    """(NDCG@k on `test`, the fit's wall seconds, its CPU seconds) of `model` fitted on `train`."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(train, fit_context(seed, model.name))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    metrics = evaluate_topn(model, train, test, k=evaluation.k, relevance_threshold=evaluation.relevance_threshold)
    return metrics[f"ndcg_at_{evaluation.k}"], wall, cpu


def _torch_version() -> str:
    import torch

    return str(torch.__version__)


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
