"""The build's protocols on one data directory, for a few models: how the synthetic generator
is held to the real data (tests/data/test_synth_calibration.py, bench/calibrate_synth.py).

It runs what `latentlens build` runs, through the same functions (load, `evaluation_data`,
`evaluate_model`) with the models' full settings, minus MLflow and the export.
"""

from __future__ import annotations

from pathlib import Path

from latentlens.build.data.loader import load_movielens
from latentlens.build.evaluate.protocol import evaluation_data
from latentlens.build.interactions import to_interactions
from latentlens.build.models import hybrid, registry
from latentlens.build.models.hybrid import Hybrid
from latentlens.build.models.spec import ModelSpec
from latentlens.build.scale import choose_scale, plan_for
from latentlens.build.settings import EvaluationSettings
from latentlens.build.stages.evaluate import evaluate_model

# The models the synthetic data is held to the real data by: those whose spec says `calibrates`, by protocol.
TOPN_MODELS = tuple(spec.name for spec in registry.all_specs().values() if spec.calibrates and not spec.rating)
RATING_MODELS = tuple(spec.name for spec in registry.all_specs().values() if spec.calibrates and spec.rating)


def protocol_scores(data_dir: Path, models: tuple[str, ...] = TOPN_MODELS + RATING_MODELS, seed: int = 42,
                    evaluation: EvaluationSettings | None = None) -> dict[str, dict[str, float]]:
    """{model: {"ndcg_at_10": ..., "rmse": ...}} under the build's default protocol for this data."""
    return spec_scores(data_dir, registry.select(models), seed, evaluation)


def spec_scores(data_dir: Path, specs: list[ModelSpec], seed: int = 42,
                evaluation: EvaluationSettings | None = None) -> dict[str, dict[str, float]]:
    """protocol_scores for specs that need not be in the registry (a variant of a registered model)."""
    data = load_movielens(data_dir)
    full = to_interactions(data)
    plan = plan_for(choose_scale("auto", full.n_ratings))
    settings = plan.apply(evaluation or EvaluationSettings())
    split = evaluation_data(full, settings, seed)
    inputs = registry.ModelInputs(data=data, items=full.items, scale=plan.scale, k=settings.k,
                                  relevance_threshold=settings.relevance_threshold)
    out: dict[str, dict[str, float]] = {}
    for spec in specs:
        ev = evaluate_model(spec, inputs, split.cv_data, split.train, split.test, settings, seed,
                            topn=spec.topn and not spec.rating, rating_holdout=split.rating_holdout)
        out[spec.name] = {**{k: v for k, v in ev.topn.items() if k == "ndcg_at_10"},
                          **{k: v for k, v in ev.rating_mean.items() if k == "rmse"}}
    return out


def _hybrid_without_sequence(inputs: registry.ModelInputs) -> Hybrid:
    model = hybrid.model_for(inputs)
    model.config = model.config.model_copy(update={"sequence": None})
    return model


# What the order of a user's ratings is worth: the hybrid against the same hybrid without its sequence part
# (the only part that sees the order), on the build's temporal holdout.
WITHOUT_SEQUENCE = ModelSpec("hybrid_without_sequence", _hybrid_without_sequence)


def sequence_gain(data_dir: Path, seed: int = 42) -> tuple[float, dict[str, float]]:
    """(gain, NDCG@10 of both): NDCG@10(hybrid) / NDCG@10(hybrid without its sequence part) - 1."""
    scores = spec_scores(data_dir, [registry.all_specs()["hybrid"], WITHOUT_SEQUENCE], seed)
    ndcg = {name: value["ndcg_at_10"] for name, value in scores.items()}
    return ndcg["hybrid"] / ndcg[WITHOUT_SEQUENCE.name] - 1, ndcg
