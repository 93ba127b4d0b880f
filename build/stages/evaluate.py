"""Stage 2, evaluate: every model under its protocols on the same splits, and the side-by-side table.

ModelEvaluation, its record (evaluation.json), the comparison table and the champion rule are every
engine's; `evaluate_model` / `evaluate_spec` are how this process evaluates one model.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from latentlens.build.interactions import Interactions
from latentlens.build.models.base import FitContext, ModelConfig, Recommender
from latentlens.build.models.capabilities import RatingPredictor
from latentlens.build.models.registry import ModelInputs, ModelSpec
from latentlens.build.progress import get_logger
from latentlens.build.settings import EvaluationSettings

if TYPE_CHECKING:
    from latentlens.build.evaluate.protocol import RatingHoldout
    from latentlens.build.evaluate.rating_cv import RatingFit
    from latentlens.build.stages.prepare import Prepared
    from latentlens.build.tracking.tracker import Tracker

log = get_logger(__name__)

TOPN_PROTOCOL = "topn_temporal_holdout"
RATING_PROTOCOL = "rating_kfold_cv"
RATING_HOLDOUT_PROTOCOL = "rating_holdout"  # the large plan's (build/evaluate/protocol.py)
# a model run's evaluation.json, whichever engine wrote it (record_evaluation)
EVALUATION_RECORD_KEYS = ("model", "engine", "config", "topn", "rating_folds", "rating_mean", "rating_protocol",
                          "chosen")


def fit_context(seed: int, model_name: str, n_threads: int = 2, show_progress: bool = False) -> FitContext:
    """Each model draws from its own stream of the build's seed: same seed, same results."""
    return FitContext(rng=np.random.default_rng([seed, zlib.crc32(model_name.encode())]), n_threads=n_threads,
                      show_progress=show_progress)


def ranking_metric(k: int) -> str:
    """The metric that chooses the top-N champion (and is plotted): NDCG at the protocol's cut-off."""
    return f"ndcg_at_{k}"


@dataclass
class ModelEvaluation:
    name: str
    params: dict
    topn: dict[str, float] = field(default_factory=dict)
    rating_folds: list[dict[str, float]] = field(default_factory=list)
    fit_seconds: float = float("nan")
    extra: dict = field(default_factory=dict)
    tuned: ModelConfig | None = None  # the config with validation choices fixed in, for the retrain
    rating_protocol: str = RATING_PROTOCOL
    # the top-N protocol's fit and its training data, until the pipeline has logged it (--log-models all)
    fitted: tuple[Recommender, Interactions] | None = field(default=None, repr=False, compare=False)

    @property
    def rating_mean(self) -> dict[str, float]:
        if not self.rating_folds:
            return {}
        keys = self.rating_folds[0].keys()
        return {k: float(np.mean([f[k] for f in self.rating_folds])) for k in keys}

    def metric_rows(self) -> list[tuple[str, str, str, float]]:
        """(model, protocol, metric, value) rows for the artifact's model_metrics table."""
        rows = [(self.name, TOPN_PROTOCOL, k, float(v)) for k, v in self.topn.items()]
        if self.rating_protocol == RATING_PROTOCOL:
            for i, fold in enumerate(self.rating_folds, start=1):
                rows += [(self.name, RATING_PROTOCOL, f"{k}_fold{i}", float(v)) for k, v in fold.items()]
        rows += [(self.name, self.rating_protocol, k, v) for k, v in self.rating_mean.items()]
        return rows


def evaluate_model(
    spec: ModelSpec,
    inputs: ModelInputs,
    cv_data: Interactions,
    train: Interactions,
    test: Interactions,
    settings: EvaluationSettings,
    seed: int,
    topn: bool = True,
    rating_holdout: RatingHoldout | None = None,
    n_threads: int = 2,
    show_progress: bool = False,
) -> ModelEvaluation:
    """The protocols the spec asks for; `topn=False` skips the top-N one (ScalePlan.runs_topn).
    With `rating_holdout` the rating protocol is that one split instead of k-fold CV on `cv_data`.
    `show_progress`: bars on stderr for the long loops (BuildSettings.progress)."""
    from latentlens.build.evaluate.topn import evaluate_topn

    probe: Recommender = spec.make(inputs)
    evaluation = ModelEvaluation(spec.name, probe.config.model_dump())
    chosen: dict[str, dict] = {}
    if spec.topn and topn:
        started = time.perf_counter()
        model = inputs.fits.fit(probe, train, fit_context(seed, spec.name, n_threads, show_progress))
        evaluation.fit_seconds = time.perf_counter() - started
        evaluation.tuned = model.tuned_config()
        chosen["topn_fit"] = model.chosen()
        evaluation.topn = evaluate_topn(model, train, test, k=settings.k,
                                        relevance_threshold=settings.relevance_threshold, n_threads=n_threads,
                                        show_progress=show_progress)
        evaluation.topn["fit_seconds"] = evaluation.fit_seconds
        evaluation.fitted = (model, train)
    if spec.rating and rating_holdout is not None:
        holdout_models: list[Recommender] = []
        shared = ((model, evaluation.fit_seconds)
                  if spec.topn and topn and rating_holdout.train_for(spec.linear_fit) is train else None)
        evaluation.rating_folds = [_holdout_scores(spec, inputs, rating_holdout, seed, holdout_models, n_threads,
                                                   fitted_on_train=shared, show_progress=show_progress)]
        chosen["holdout"] = holdout_models[0].chosen()
        evaluation.rating_protocol = RATING_HOLDOUT_PROTOCOL
        evaluation.extra["rating_train_ratings"] = rating_holdout.train_for(spec.linear_fit).n_ratings
        if not (spec.topn and topn):
            evaluation.fit_seconds = evaluation.rating_folds[0]["fit_seconds"]
    elif spec.rating:
        by_fold, mean_fit_seconds = _cross_validated(spec, inputs, cv_data, settings, evaluation,
                                                     fit_context(seed, spec.name, n_threads, show_progress))
        chosen.update(by_fold)
        if not (spec.topn and topn):
            evaluation.fit_seconds = mean_fit_seconds
    record_chosen(evaluation, chosen)
    return evaluation


def _cross_validated(spec: ModelSpec, inputs: ModelInputs, cv_data: Interactions, settings: EvaluationSettings,
                     evaluation: ModelEvaluation, ctx: FitContext) -> tuple[dict[str, dict], float]:
    """k-fold rating CV on `cv_data`: the folds' scores into `evaluation`; what each fold's fit chose, by fold,
    and the mean fit time."""
    from latentlens.build.evaluate.rating_cv import cross_validate

    fold_models: list[Recommender] = []

    def fold_model() -> RatingFit:  # a new model per fold, kept for what each fit chose
        model = spec.make(inputs)
        assert isinstance(model, RatingPredictor), f"{spec.name}: evaluated on ratings, but does not predict"
        fold_models.append(model)
        return model

    cv = cross_validate(fold_model, cv_data, settings.folds, ctx)
    evaluation.rating_folds = [{"rmse": r, "mae": a, "fit_seconds": t}
                               for r, a, t in zip(cv["rmse"], cv["mae"], cv["fit_seconds"], strict=True)]
    return {f"cv_fold{i}": m.chosen() for i, m in enumerate(fold_models, start=1)}, cv["fit_seconds_mean"]


def record_chosen(evaluation: ModelEvaluation, by_fit: dict[str, dict]) -> None:
    """What each fit chose on validation (biased_mf's reg), kept in `extra` by fit, and logged as the
    param itself: one value when every fit agreed, else `fit=value` for each."""
    by_fit = {fit: chosen for fit, chosen in by_fit.items() if chosen}
    if not by_fit:
        return
    evaluation.extra["chosen_by_fit"] = by_fit
    for key in next(iter(by_fit.values())):
        values = {fit: chosen.get(key) for fit, chosen in by_fit.items()}
        if key in evaluation.params and not any(isinstance(v, dict) for v in values.values()):
            distinct = set(map(str, values.values()))
            evaluation.params[key] = (next(iter(values.values())) if len(distinct) == 1
                                      else ",".join(f"{fit}={v}" for fit, v in values.items()))


def _holdout_scores(spec: ModelSpec, inputs: ModelInputs, holdout: RatingHoldout, seed: int,
                    fitted: list[Recommender], n_threads: int = 2,
                    fitted_on_train: tuple[Recommender, float] | None = None,
                    show_progress: bool = False) -> dict[str, float]:
    """Fit once on the spec's training set of the holdout (or take `fitted_on_train`, the top-N
    protocol's fit on that very set and its seconds), score the held-out ratings; the model is
    appended to `fitted` (what it chose on validation is recorded)."""
    from latentlens.build.evaluate.metrics import mae
    from latentlens.build.evaluate.protocol import clustered_rmse

    train, test = holdout.train_for(spec.linear_fit), holdout.test
    started = time.perf_counter()
    if fitted_on_train is not None:
        model, seconds = fitted_on_train
    else:
        model = spec.make(inputs)
        model.fit(train, fit_context(seed, spec.name, n_threads, show_progress))
        seconds = time.perf_counter() - started
    fitted.append(model)
    assert isinstance(model, RatingPredictor), f"{spec.name}: evaluated on ratings, but does not predict"
    pred = model.predict(test.user_idx, test.item_idx)
    value, se = clustered_rmse(pred, test.rating, test.user_idx)
    return {"rmse": value, "rmse_se": se, "mae": mae(pred, test.rating), "fit_seconds": seconds}


def comparison_columns(k: int = 10) -> tuple[str, ...]:
    """The table's metric columns for the ranking cut-off k."""
    return (f"ndcg_at_{k}", f"ndcg_at_{k}_se", *(f"{m}_at_{k}" for m in ("precision", "recall", "map", "hit_rate")),
            "coverage", "novelty", "rmse", "rmse_se", "mae", "fit_seconds")


def comparison_table(evaluations: list[ModelEvaluation], k: int = 10) -> pl.DataFrame:
    columns = comparison_columns(k)
    rows = []
    for ev in evaluations:
        row: dict[str, object] = {"model": ev.name}
        for col in columns:
            row[col] = ev.topn.get(col, ev.rating_mean.get(col))
        row["fit_seconds"] = ev.fit_seconds
        rows.append(row)
    schema = {"model": pl.Utf8, **{c: pl.Float64 for c in columns}}
    table = pl.DataFrame(rows, schema=schema)
    return table.drop("rmse_se") if table["rmse_se"].is_null().all() else table  # k-fold CV: no such column


def best_by_metric(evaluations: list[ModelEvaluation], k: int = 10) -> tuple[str | None, str | None]:
    """Top-N champion by NDCG@k, rating champion by mean RMSE (stages/champions.py applies the pins)."""
    metric = ranking_metric(k)
    topn = [e for e in evaluations if metric in e.topn]
    rating = [e for e in evaluations if "rmse" in e.rating_mean]
    best_topn = max(topn, key=lambda e: e.topn[metric]).name if topn else None
    best_rating = min(rating, key=lambda e: e.rating_mean["rmse"]).name if rating else None
    return best_topn, best_rating


@dataclass(frozen=True)
class Comparison:
    """Every model's evaluation and the side-by-side table the build prints and logs."""

    evaluations: list[ModelEvaluation]
    table: pl.DataFrame
    caption: str

    def by_name(self) -> dict[str, ModelEvaluation]:
        return {ev.name: ev for ev in self.evaluations}

    def tuned(self) -> dict[str, ModelConfig]:
        """What each model chose on validation, fixed in its config: the retrain does not search again."""
        return {ev.name: ev.tuned for ev in self.evaluations if ev.tuned is not None}


def evaluate_spec(prepared: Prepared, inputs: ModelInputs, spec: ModelSpec, tracker: Tracker) -> ModelEvaluation:
    """Stage 2 on this process for one model (build/pipeline.py runs it for each in its own tracked run):
    the protocols its spec asks for on the prepared splits, unless the scale plan or the data rule one out."""
    settings, plan, split = prepared.settings, prepared.plan, prepared.split
    topn = plan.runs_topn(spec)
    if spec.topn and not topn:
        log.info("%s: top-N protocol skipped by the %s scale plan", spec.name, plan.scale)
        tracker.set_tags({"topn_protocol": f"skipped by the {plan.scale} scale plan"})
    elif spec.topn and prepared.topn_skip:
        log.info("%s: top-N protocol skipped: %s", spec.name, prepared.topn_skip)
        tracker.set_tags({"topn_protocol": f"skipped: {prepared.topn_skip}"})
        topn = False
    return evaluate_model(spec, inputs, split.cv_data, split.train, split.test, prepared.evaluation, settings.seed,
                          topn=topn, rating_holdout=split.rating_holdout, n_threads=settings.threads,
                          show_progress=settings.progress)


def record_evaluation(ev: ModelEvaluation, tracker: Tracker, engine: str = "inprocess") -> None:
    """One model's metrics (per fold and mean) and one self-contained record: config, metrics, choices.
    Both engines write it, so evaluation.json has one shape whichever engine built it."""
    if ev.topn:
        tracker.log_metrics(ev.topn)
    folds = ev.rating_folds if ev.rating_protocol == RATING_PROTOCOL else []
    for step, fold in enumerate(folds, start=1):  # one name per metric: the folds are its steps 1..k ...
        tracker.log_metrics(fold, step=step)
    if ev.rating_mean:  # ... and the mean its last step, the value a run shows
        tracker.log_metrics(ev.rating_mean, step=len(folds) + 1 if folds else None)
    tracker.log_dict({"model": ev.name, "engine": engine, "config": ev.params, "topn": ev.topn,
                      "rating_folds": ev.rating_folds, "rating_mean": ev.rating_mean,
                      "rating_protocol": ev.rating_protocol if ev.rating_folds else None,
                      "chosen": {k: v for k, v in ev.extra.items() if k != "mlflow_run_id"}},
                     "evaluation.json")


def record_comparison(comparison: Comparison, k: int, tracker: Tracker) -> None:
    per_fold = {e.name: [f["rmse"] for f in e.rating_folds] for e in comparison.evaluations
                if e.rating_folds and e.rating_protocol == RATING_PROTOCOL}
    tracker.log_comparison(comparison.table, comparison.caption, ranking_metric(k), per_fold)
