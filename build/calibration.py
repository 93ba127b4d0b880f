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
from latentlens.build.models import registry
from latentlens.build.scale import choose_scale, plan_for
from latentlens.build.settings import EvaluationSettings
from latentlens.build.stages.evaluate import evaluate_model

# The models the synthetic data is held to the real data by: those whose spec says `calibrates`, by protocol.
TOPN_MODELS = tuple(spec.name for spec in registry.all_specs().values() if spec.calibrates and not spec.rating)
RATING_MODELS = tuple(spec.name for spec in registry.all_specs().values() if spec.calibrates and spec.rating)


def protocol_scores(data_dir: Path, models: tuple[str, ...] = TOPN_MODELS + RATING_MODELS, seed: int = 42,
                    evaluation: EvaluationSettings | None = None) -> dict[str, dict[str, float]]:
    """{model: {"ndcg_at_10": ..., "rmse": ...}} under the build's default protocol for this data."""
    data = load_movielens(data_dir)
    full = to_interactions(data)
    plan = plan_for(choose_scale("auto", full.n_ratings))
    settings = plan.apply(evaluation or EvaluationSettings())
    split = evaluation_data(full, settings, seed)
    inputs = registry.ModelInputs(data=data, items=full.items, scale=plan.scale)
    out: dict[str, dict[str, float]] = {}
    for spec in registry.select(models):
        ev = evaluate_model(spec, inputs, split.cv_data, split.train, split.test, settings, seed,
                            topn=spec.topn and not spec.rating, rating_holdout=split.rating_holdout)
        out[spec.name] = {**{k: v for k, v in ev.topn.items() if k == "ndcg_at_10"},
                          **{k: v for k, v in ev.rating_mean.items() if k == "rmse"}}
    return out
