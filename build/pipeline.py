"""`latentlens build`: load → evaluate every model → pick champions → retrain → export, under MLflow.

Stages are plain functions; this module only chains them inside one MLflow parent run.
Only `load_movielens` reads input files and only `write_artifact` writes the artifact.
"""

from __future__ import annotations

import json
import shlex
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import numpy as np
import polars as pl

import latentlens
from latentlens.build.build_info import git_commit
from latentlens.build.data.loader import LoadOptions, load_movielens
from latentlens.build.data.summary import summarize
from latentlens.build.data.tables import MovieLensData
from latentlens.build.sampling import sample_ratings
from latentlens.build.stages.evaluate import (
    RATING_PROTOCOL,
    ModelEvaluation,
    champions,
    comparison_table,
    evaluate_model,
    fit_context,
)
from latentlens.build.evaluate.protocol import evaluation_data
from latentlens.build.export import because
from latentlens.build.export import tables as export_tables
from latentlens.build.export.artifact import (
    ArtifactReport,
    ArtifactTables,
    check_output,
    estimate_artifact_bytes,
    write_artifact,
)
from latentlens.build.export.because import Reasons
from latentlens.build.export.similar import SimilarSettings, blended_neighbours
from latentlens.build.report import format_table, markdown_table
from latentlens.build.interactions import to_interactions
from latentlens.build.minimum import check_minimum, topn_skip_reason
from latentlens.build.models import registry
from latentlens.build.interactions import Interactions
from latentlens.build.models.base import ModelConfig, Recommender
from latentlens.build.progress import get_logger, progress
from latentlens.build.scale import ScalePlan, choose_scale, plan_for
from latentlens.build.settings import BuildSettings, EvaluationSettings, SettingsError
from latentlens.build.tracking import plots, registry as model_registry, runs
from latentlens.handler import schema

log = get_logger(__name__)

# Models the export needs whatever the champions are: similar movies and popular lists.
SIMILARITY_MODELS = registry.REQUIRED_FOR_EXPORT


@dataclass(frozen=True)
class BuildResult:
    artifact: ArtifactReport
    comparison: pl.DataFrame
    topn_champion: str | None
    rating_champion: str | None
    run_id: str
    tracking_uri: str
    seconds: float
    registered_model: str | None
    experiment_id: str = ""
    caption: str = "top-N: temporal holdout; rating: k-fold CV"

    def summary_text(self, command: str = "latentlens", out_shown: str | None = None,
                     mlflow_uri_shown: str | None = None) -> str:
        """The comparison and where everything went; `command` is how this shell runs latentlens
        (the CLI passes the venv's script when it is not on PATH), so the commands work as shown."""
        table = format_table(list(self.comparison.columns), self.comparison.rows())
        out = shlex.quote(out_shown or str(self.artifact.path))
        ui_args = f" --mlflow-uri {shlex.quote(mlflow_uri_shown)}" if mlflow_uri_shown else ""
        return "\n".join([
            f"Model comparison ({self.caption})",
            table,
            "",
            f"top-N champion:  {self.topn_champion}",
            f"rating champion: {self.rating_champion}",
            f"artifact:        {self.artifact.path} ({self.artifact.size_bytes / 1e6:.1f} MB, "
            f"sha256 {self.artifact.sha256[:16]}…)",
            f"MLflow run:      {self.run_id} in {self.tracking_uri}",
            f"registered:      {self.registered_model or '-'}",
            f"build time:      {self.seconds:.1f} s",
            "",
            "Next:",
            f"  serve it:   {command} serve --db {out}",
            f"  query it:   {command} query {out} 'SELECT * FROM build_info'",
            f"  MLflow UI:  {command} mlflow-ui{ui_args}   (experiment {self.experiment_id}, "
            "opens as a machine-learning experiment)",
        ])


def run(settings: BuildSettings) -> BuildResult:
    started = time.perf_counter()
    specs = registry.select(settings.models)
    _check_pins(settings, specs, None)  # names and kinds: before reading 25M ratings
    check_output(settings.out, force=settings.force)  # a bad --out costs seconds, not the whole build
    data = load_movielens(settings.data_dir, LoadOptions(keep_last_duplicate=settings.keep_last_duplicate))
    full = to_interactions(data)
    check_output(settings.out, force=settings.force, needed_bytes=estimate_artifact_bytes(
        full.n_users, full.n_items, settings.top_n, settings.similar_n))
    plan = plan_for(choose_scale(settings.scale, full.n_ratings))
    _check_pins(settings, specs, plan)
    evaluation = plan.apply(settings.evaluation)
    check_minimum(full, evaluation.folds, settings.data_dir)  # 1 user, 1 movie, 1 rating: exit 2, not a crash
    inputs = registry.ModelInputs(data=data, items=full.items, quick=settings.quick, scale=plan.scale)
    split = evaluation_data(full, evaluation, settings.seed)
    train, test, cv_data = split.train, split.test, split.cv_data
    no_topn = topn_skip_reason(test)
    log.info("protocols: %s", split.caption())
    log.info("%s: %d users, %d movies, %d ratings; evaluating %d models",
             data.name, full.n_users, full.n_items, full.n_ratings, len(specs))
    log.info("scale plan: %s (%d-fold CV, eval users %s, CV ratings %s)", plan.scale, evaluation.folds,
             evaluation.max_eval_users or "all", evaluation.cv_max_ratings or "all")

    experiment_id = runs.setup_experiment(settings.mlflow_uri, settings.experiment)
    run_name = f"{data.name} {datetime.now(UTC):%Y-%m-%d %H:%M:%S}"
    with mlflow.start_run(run_name=run_name) as parent, tempfile.TemporaryDirectory() as scratch:
        runs.tag_build_process()
        workdir = Path(scratch)
        summary = _log_build_context(settings, evaluation, plan.scale, data, workdir)
        mlflow.log_params({f"sampled_{k}": v for k, v in split.sampled.items()})
        mlflow.set_tag("protocols", split.caption())

        evaluations: list[ModelEvaluation] = []
        for spec in progress(specs, desc="models", unit="model"):
            with runs.model_run(spec.name) as child:
                log.info("evaluating %s", spec.name)
                topn = plan.runs_topn(spec)
                if spec.topn and not topn:
                    log.info("%s: top-N protocol skipped by the %s scale plan", spec.name, plan.scale)
                    mlflow.set_tag("topn_protocol", f"skipped by the {plan.scale} scale plan")
                elif spec.topn and no_topn:
                    log.info("%s: top-N protocol skipped: %s", spec.name, no_topn)
                    mlflow.set_tag("topn_protocol", f"skipped: {no_topn}")
                    topn = False
                ev = evaluate_model(spec, inputs, cv_data, train, test, evaluation, settings.seed, topn=topn,
                                    rating_holdout=split.rating_holdout)
                runs.log_params(ev.params)
                _log_evaluation(ev)
                ev.extra["mlflow_run_id"] = child.info.run_id
            evaluations.append(ev)

        inputs.fits.forget(train)
        comparison = comparison_table(evaluations)
        best_topn, best_rating = champions(evaluations)
        topn_champ = settings.topn_champion or best_topn
        rating_champ = settings.rating_champion or best_rating
        pinned = [kind for kind, pin in (("topn", settings.topn_champion), ("rating", settings.rating_champion)) if pin]
        log.info("champions: top-N %s, rating %s%s", topn_champ, rating_champ,
                 f" (pinned; by the metrics: top-N {best_topn}, rating {best_rating})" if pinned else "")
        mlflow.set_tags({"topn_champion": topn_champ or "", "rating_champion": rating_champ or "",
                         "topn_champion_by_metric": best_topn or "", "rating_champion_by_metric": best_rating or "",
                         "champions_pinned": ",".join(pinned)})
        _log_comparison(comparison, evaluations, workdir, split.caption())

        tuned = {ev.name: ev.tuned for ev in evaluations if ev.tuned is not None}
        finals = _retrain_on_all(settings, inputs, full, topn_champ, rating_champ, tuned, plan)
        logged = _log_champion_models(settings, finals, full, topn_champ, rating_champ, evaluations)

        info = {
            "schema_version": schema.SCHEMA_VERSION,
            "dataset_name": data.name,
            "dataset_path": str(Path(settings.data_dir).resolve()),
            "dataset_sha256": data.sha256,
            "n_users": full.n_users,
            "n_movies": full.n_items,
            "n_rated_movies": int(summary.get("rated_movies", np.unique(full.item_idx).size)),
            "n_ratings": full.n_ratings,
            "topn_champion": topn_champ or "",
            "rating_champion": rating_champ or "",
            "mlflow_run_id": parent.info.run_id,
            "mlflow_tracking_uri": settings.mlflow_uri,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "package_version": latentlens.__version__,
            "git_commit": git_commit(),
            "seed": settings.seed,
            "top_n": settings.top_n,
            "similar_n": settings.similar_n,
            "quick": settings.quick,
            "scale": plan.scale,
        }
        tables = _artifact_tables(settings, data, full, finals, topn_champ, evaluations, info)
        # Publish and register under one lock: the registry's @champion and the file on disk name the
        # same build even when two builds finish together (the last to publish wins both).
        with runs.store_lock(settings.mlflow_uri):
            report = write_artifact(settings.out, tables, force=settings.force)
            registered = _register_published(settings, logged, parent.info.run_id, report, data)
        mlflow.log_metrics({"artifact_mb": report.size_bytes / 1e6,
                            "build_seconds": time.perf_counter() - started})
        mlflow.set_tag("artifact_sha256", report.sha256)
        mlflow.log_param("artifact_path", str(Path(settings.out).resolve()))

    return BuildResult(report, comparison, topn_champ, rating_champ, parent.info.run_id,
                       settings.mlflow_uri, time.perf_counter() - started, registered, experiment_id,
                       split.caption())


def _check_pins(settings: BuildSettings, specs: list[registry.ModelSpec], plan: ScalePlan | None) -> None:
    """A pinned champion must be evaluated in this build on its own protocol: fail before any training.
    Without a plan (the data not read yet) only names and kinds are checked."""
    chosen = {spec.name: spec for spec in specs}
    for flag, name, kind in (("--topn-champion", settings.topn_champion, "topn"),
                             ("--rating-champion", settings.rating_champion, "rating")):
        if name is None:
            continue
        spec = chosen.get(name)
        if spec is None:
            raise SettingsError(f"{flag} {name}: not among this build's models ({', '.join(chosen)})")
        if not getattr(spec, kind):
            raise SettingsError(f"{flag} {name}: cannot ship it, it is not evaluated as a "
                                f"{'top-N' if kind == 'topn' else 'rating'} model")
        if kind == "topn" and plan is not None and not plan.runs_topn(spec):
            raise SettingsError(f"{flag} {name}: the {plan.scale} scale plan skips its top-N (superlinear fit); "
                                "--scale small evaluates it")


def _log_build_context(settings: BuildSettings, evaluation: EvaluationSettings, scale: str,
                       data: MovieLensData, workdir: Path) -> dict:
    mlflow.set_tags({"git_commit": git_commit(), "dataset": data.name, "dataset_sha256": data.sha256,
                     "package_version": latentlens.__version__})
    mlflow.log_params({"data_dir": str(settings.data_dir), "seed": settings.seed, "quick": settings.quick,
                       "scale": scale, "folds": evaluation.folds, "test_fraction": evaluation.test_fraction,
                       "relevance_threshold": evaluation.relevance_threshold,
                       "top_n": settings.top_n, "similar_n": settings.similar_n,
                       "min_cf_ratings": settings.min_cf_ratings,
                       "max_eval_users": evaluation.max_eval_users,
                       "cv_max_ratings": evaluation.cv_max_ratings,
                       "rating_holdout_users": evaluation.rating_holdout_users})
    runs.log_dataset(settings.data_dir, data.name, data.sha256)
    summary = summarize(data)
    path = workdir / "dataset_summary.json"
    path.write_text(json.dumps(summary, indent=2, default=str))
    mlflow.log_artifact(str(path), "data")
    mlflow.log_artifact(str(plots.rating_distribution(data.ratings, workdir / "rating_distribution.png")), "plots")
    mlflow.log_artifact(str(plots.long_tail(data.ratings, workdir / "long_tail.png")), "plots")
    return summary


def _log_evaluation(ev: ModelEvaluation) -> None:
    if ev.topn:
        runs.log_metrics(ev.topn)
    if ev.rating_protocol == RATING_PROTOCOL:
        for step, fold in enumerate(ev.rating_folds, start=1):
            runs.log_metrics({f"cv_{k}": v for k, v in fold.items()}, step=step)
    if ev.rating_mean:
        runs.log_metrics(ev.rating_mean)
    # One self-contained record per model run: its config, what it measured, what it chose.
    mlflow.log_dict({"model": ev.name, "config": ev.params, "topn": ev.topn, "rating_folds": ev.rating_folds,
                     "rating_mean": ev.rating_mean,
                     "chosen": {k: v for k, v in ev.extra.items() if k != "mlflow_run_id"}},
                    "evaluation.json")


def _log_comparison(comparison: pl.DataFrame, evaluations: list[ModelEvaluation], workdir: Path,
                    caption: str) -> None:
    csv_path = workdir / "comparison.csv"
    comparison.write_csv(csv_path)
    md_path = workdir / "comparison.md"
    md_path.write_text(markdown_table(comparison) + f"\n{caption}\n")
    for path in (csv_path, md_path):
        mlflow.log_artifact(str(path), "comparison")
    if comparison["ndcg_at_10"].is_not_null().any():
        mlflow.log_artifact(str(plots.model_comparison(comparison, "ndcg_at_10", workdir / "ndcg.png")), "plots")
    per_fold = {e.name: [f["rmse"] for f in e.rating_folds] for e in evaluations
                if e.rating_folds and e.rating_protocol == RATING_PROTOCOL}
    if per_fold:
        mlflow.log_artifact(str(plots.rmse_per_fold(per_fold, workdir / "rmse_per_fold.png")), "plots")


def _retrain_on_all(settings: BuildSettings, inputs: registry.ModelInputs, full: Interactions,
                    topn_champ: str | None, rating_champ: str | None,
                    tuned: dict[str, ModelConfig], plan: ScalePlan) -> dict[str, Recommender]:
    """Champions and the models the export always needs, refit on every rating.

    A model that chose settings on validation during its evaluation (the hybrid's weights)
    is refit with those choices fixed, not searched again. The export's models go first, so
    the hybrid's content and popularity parts are the very fits the export uses (FitCache).
    In the large plan a rating champion whose fit cost is superlinear fits on a sample.
    """
    specs = registry.all_specs()
    wanted = [n for n in dict.fromkeys([*SIMILARITY_MODELS, "popularity", topn_champ, rating_champ]) if n]
    finals = {}
    for name in progress(wanted, desc="retrain on all data", unit="model"):
        log.info("retraining %s on all %d ratings", name, full.n_ratings)
        spec = specs[name]
        model = spec.factory(inputs)
        if name in tuned:
            model.config = tuned[name]
        data = full
        if name == rating_champ and name != topn_champ:
            data = sample_ratings(full, plan.final_fit_max_ratings(spec), np.random.default_rng([settings.seed, 2]))
            if data is not full:
                log.info("%s: final fit on a sample of %d ratings (scale plan)", name, data.n_ratings)
                mlflow.log_param("rating_fit_ratings", data.n_ratings)
        finals[name] = inputs.fits.fit(model, data, fit_context(settings.seed, name))
        if chosen := {k: v for k, v in finals[name].chosen().items() if not isinstance(v, dict)}:
            runs.log_params({f"final_{name}.{k}": v for k, v in chosen.items()})  # what the shipped fit chose
    return finals


def _artifact_tables(settings: BuildSettings, data: MovieLensData, full: Interactions,
                     finals: dict[str, Recommender], topn_champ: str | None,
                     evaluations: list[ModelEvaluation], info: dict) -> ArtifactTables:
    from latentlens.build.models.popularity import PopularityConfig, popular_lists

    all_users = np.arange(full.n_users)
    champion = finals[topn_champ or "popularity"]
    log.info("top-%d for %d users with %s", settings.top_n, full.n_users, champion.name)
    rec_items, rec_scores = champion.recommend(all_users, settings.top_n, exclude=full.matrix, n_threads=2,
                                               show_progress=True)

    all_items = np.arange(full.n_items)
    n_ratings = np.bincount(full.item_idx, minlength=full.n_items)
    genres = _item_genres(data, full)
    # Lists people browse use the IMDB-style weighted rating, so niche titles with three
    # five-star votes do not top them (the popularity *model* may rank by count).
    pop = popular_lists(full, genres, settings.popular_n, PopularityConfig(score="weighted"))
    overall_idx, overall_score = pop[None]
    # Similar movies: item-kNN neighbours with enough co-raters blended with content by each movie's
    # rating count (build/export/similar.py), then the overall popular list as a last resort (one
    # extra entry, since a movie skips itself).
    head = slice(0, settings.similar_n + 1)
    shape = (full.n_items, overall_idx[head].size)
    started = time.perf_counter()
    blended = blended_neighbours(finals["itemknn"].similar_items(all_items, settings.similar_n),
                                 finals["content"].similar_items(all_items, settings.similar_n),
                                 full.binary, n_ratings, settings.min_cf_ratings, settings.similar_n, SimilarSettings())
    log.info("similar movies: blended cf and content in %.1f s", time.perf_counter() - started)
    sources = [
        ("popular", np.broadcast_to(overall_idx[head], shape), np.broadcast_to(overall_score[head], shape)),
    ]
    similar = export_tables.similar_movies(full.items, n_ratings, settings.min_cf_ratings, settings.similar_n, sources,
                                           primary=blended)

    def explain(users: np.ndarray, items: np.ndarray) -> Reasons:
        started = time.perf_counter()
        reasons = because.explain(users, items, full, [finals["itemknn"].neighbours_, finals["content"].neighbours_],
                                  schema.BECAUSE_N, show_progress=True)
        explained = float((reasons.items[:, 0] >= 0).mean()) if users.size else 0.0
        log.info("because: %d recommendations explained in %.1f s (%.1f%% with a reason)",
                 users.size, time.perf_counter() - started, 100 * explained)
        mlflow.log_metrics({"because_seconds": time.perf_counter() - started, "because_explained_share": explained})
        return reasons
    metrics = export_tables.model_metrics([row for ev in evaluations for row in ev.metric_rows()])
    return ArtifactTables(
        movies=export_tables.movies_table(data),
        user_recommendations=export_tables.user_recommendations(full, rec_items, rec_scores, explain),
        similar_movies=similar,
        popular_movies=export_tables.popular_movies(pop, full.items),
        model_metrics=metrics,
        build_info={k: str(v) for k, v in info.items()},
    )


def _item_genres(data: MovieLensData, full: Interactions) -> list[list[str]]:
    """Genre lists aligned to the item vocabulary (empty for ids only seen in ratings)."""
    lookup = dict(zip(data.movies["movie_id"].to_list(), data.movies["genres"].to_list()))
    return [lookup.get(int(i), []) or [] for i in full.items.ids]


def _log_champion_models(settings: BuildSettings, finals: dict[str, Recommender], full: Interactions,
                         topn_champ: str | None, rating_champ: str | None,
                         evaluations: list[ModelEvaluation]) -> list[model_registry.LoggedModel]:
    """Both champions logged with the run as pyfuncs; registered only once the artifact is published."""
    by_name = {ev.name: ev for ev in evaluations}
    logged = []
    if rating_champ is not None:
        mean = by_name[rating_champ].rating_mean
        logged.append(model_registry.log_rating_model(finals[rating_champ], full,
                                                      {k: mean[k] for k in ("rmse", "mae") if k in mean}))
    topn_model = finals[topn_champ or "popularity"]  # the model whose lists the export stores
    topn = by_name[topn_model.name].topn if topn_model.name in by_name else {}
    logged.append(model_registry.log_topn_model(topn_model, full, settings.top_n,
                                                {k: topn[k] for k in ("ndcg_at_10", "precision_at_10") if k in topn}))
    return logged


def _register_published(settings: BuildSettings, logged: list[model_registry.LoggedModel], run_id: str,
                        report: ArtifactReport, data: MovieLensData) -> str | None:
    if not settings.register_model:
        return None
    names = {"rating": settings.registered_model_name, "topn": settings.registered_topn_name}
    done = []
    for entry in logged:
        version = model_registry.register_published(entry, names[entry.kind], run_id, report.path, report.sha256,
                                                    data.name, data.sha256)
        done.append(f"{names[entry.kind]} v{version.version}")
    return ", ".join(done) + f" (@{model_registry.CHAMPION_ALIAS})" if done else None
