"""`latentlens build --engine spark`: load → split → evaluate → champions → retrain → export, on Spark.

The same settings (BuildSettings), the same MLflow layout (a parent run per build, one nested
run per model with its params, metrics and evaluation.json; the comparison and plots on the
parent) and the same public artifact as build/pipeline.py. Models: those of the one registry
(build/models/registry.py) with a Spark implementation (build/engines/spark/implementations.py);
the others are reported as skipped, with the reason.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from latentlens._version import __version__
from latentlens.build.build_info import BuildInfo, DatasetFacts, git_commit
from latentlens.build.engines.spark import evaluate as spark_eval
from latentlens.build.engines.spark import export as spark_export
from latentlens.build.engines.spark import models
from latentlens.build.engines.spark.because import with_because
from latentlens.build.engines.spark.context import EvalContext, splits
from latentlens.build.engines.spark.implementations import SparkImplementation
from latentlens.build.engines.spark.io import SparkRelease, read_release
from latentlens.build.engines.spark.session import spark_session
from latentlens.build.engines.spark.settings import SparkSettings
from latentlens.build.export import tables as export_tables
from latentlens.build.export.artifact import ArtifactReport
from latentlens.build.models import registry
from latentlens.build.progress import get_logger, progress
from latentlens.build.report import format_table
from latentlens.build.scale import choose_scale, plan_for
from latentlens.build.settings import BuildSettings, EvaluationSettings
from latentlens.build.stages.champions import choose_champions
from latentlens.build.stages.evaluate import ModelEvaluation, comparison_table, record_evaluation
from latentlens.build.stages.prepare import check_pins, record_skipped
from latentlens.build.tracking.tracker import MlflowTracker, Tracker
from latentlens.handler import schema

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.ml.recommendation import ALSModel
    from pyspark.sql import DataFrame, SparkSession

log = get_logger(__name__)

SPARK: registry.Engine = "spark"

COMPARISON_CAPTION = ("Spark engine: top-N on the temporal holdout of sampled users; "
                      "RMSE on the rating protocol model_metrics names.")


@dataclass(frozen=True)
class SparkBuildResult:
    artifact: ArtifactReport | None    # None when the output is past the DuckDB budget
    parquet: Path
    manifest: dict
    comparison: pl.DataFrame
    topn_champion: str
    rating_champion: str | None
    run_id: str
    tracking_uri: str
    seconds: float
    registered_model: str | None = None

    def summary_text(self, command: str = "latentlens", out_shown: str | None = None,
                     mlflow_uri_shown: str | None = None) -> str:
        """The in-process BuildResult.summary_text's signature: the CLI prints either result the same way."""
        table = format_table(list(self.comparison.columns), self.comparison.rows())
        artifact = (f"{out_shown or self.artifact.path} ({self.artifact.size_bytes / 1e6:.1f} MB, "
                    f"sha256 {self.artifact.sha256[:16]}…)"
                    if self.artifact else "- (past the DuckDB budget: Parquet only)")
        return "\n".join([
            "Model comparison on Spark (temporal holdout: top-N and rating)",
            table, "",
            f"top-N champion:  {self.topn_champion}",
            f"rating champion: {self.rating_champion}",
            f"artifact:        {artifact}",
            f"parquet:         {self.parquet} ({', '.join(f'{k} {v}' for k, v in self.manifest['rows'].items())})",
            f"MLflow run:      {self.run_id} in {mlflow_uri_shown or self.tracking_uri}",
            f"build time:      {self.seconds:.1f} s",
        ])


def _check_models(settings: BuildSettings) -> registry.Selection:
    """The registry's models on this engine (the others skipped with the reason), the pins checked as
    in-process, plus the models the Spark export takes by role whatever was asked, in registry order."""
    chosen = registry.selection(settings.models, SPARK)
    check_pins(settings, chosen.specs, None)
    needed = {name for name in registry.export_models(SPARK)} | {spec.name for spec in chosen.specs}
    return registry.Selection([spec for name, spec in registry.all_specs().items() if name in needed],
                              {name: reason for name, reason in chosen.skipped.items() if name not in needed})


def run(settings: BuildSettings, spark_settings: SparkSettings, spark: SparkSession | None = None,
        tracker: Tracker | None = None) -> SparkBuildResult:
    """`tracker` defaults to the settings' MLflow store; NullTracker builds without one."""
    started = time.perf_counter()
    chosen = _check_models(settings)
    spark = spark or spark_session(spark_settings)
    tracker = tracker or MlflowTracker(settings.mlflow_uri, settings.experiment)
    with tempfile.TemporaryDirectory(prefix="latentlens-spark-") as scratch:
        return _run(settings, spark_settings, spark, tracker, chosen, Path(scratch), started)


def _run(settings: BuildSettings, spark_settings: SparkSettings, spark: SparkSession, tracker: Tracker,
         chosen: registry.Selection, scratch: Path, started: float) -> SparkBuildResult:
    release = read_release(spark, settings.data_dir, settings.keep_last_duplicate, scratch)
    ratings = release.ratings
    n_items = release.movies.height
    n_users = ratings.select("user_id").distinct().count()
    plan = plan_for(choose_scale(settings.scale, release.n_ratings))
    evaluation = plan.apply(settings.evaluation)
    split = splits(ratings, evaluation, settings.seed)
    relevant = spark_eval.relevant(split.test, evaluation.relevance_threshold).persist()
    log.info("spark: %s: %d users, %d movies, %d ratings; %s; evaluating %s",
             release.name, n_users, n_items, release.n_ratings, split.describe(),
             ", ".join(spec.name for spec in chosen.specs))

    commit = git_commit()
    with tracker.build_run(f"{release.name} {datetime.now(UTC):%Y-%m-%d %H:%M:%S}"):
        _log_context(tracker, settings, spark_settings, evaluation, plan.scale, release, spark, commit)
        tracker.log_params({f"sampled_{k}": v for k, v in split.sampled.items()})
        record_skipped(chosen.skipped, tracker)
        ctx = EvalContext(split, relevant, n_items, evaluation, settings, release.rating_scale, scratch)
        impls = {spec.name: spec.implementation(SPARK) for spec in chosen.specs}
        evaluations, tuned = _evaluate_all(impls, ctx, tracker)
        comparison = comparison_table(evaluations, evaluation.k)
        champs = choose_champions(evaluations, settings)  # the in-process build's rule and tags
        topn_champ, rating_champ = champs.topn, champs.rating
        assert topn_champ is not None  # popularity and als_implicit always run the top-N protocol
        tracker.set_tags(champs.tags())
        tracker.log_comparison(comparison, COMPARISON_CAPTION, f"ndcg_at_{evaluation.k}", {})

        finals = _retrain(ratings, impls, tuned, tracker)

        log.info("top-%d for %d users with %s", settings.top_n, n_users, topn_champ)
        candidates = impls[topn_champ].candidates(ratings, finals.get(topn_champ))
        users = ratings.select("user_id").distinct()
        recs = models.top_unseen(candidates, users, ratings, settings.top_n, n_items)
        cf = registry.for_role(registry.SIMILAR_MOVIES, SPARK).name  # item factors: similar movies and reasons
        factors = impls[cf].item_factors(finals[cf])
        recs = with_because(recs, ratings, factors, schema.BECAUSE_N, schema.BECAUSE_RANKS)
        similar = _similar_movies(factors, ratings, release, settings, spark_settings)
        weighted = models.weighted_scores(ratings).persist()
        n_rated = ratings.select("movie_id").distinct().count()
        dataset = DatasetFacts(name=release.name, path=release.uri.rsplit("/", 1)[0].removeprefix("file://"),
                               sha256=release.sha256, n_users=n_users, n_movies=n_items, n_rated_movies=n_rated,
                               n_ratings=release.n_ratings)
        info = BuildInfo.of(settings, dataset, topn_champ, rating_champ, tracker.run_id, plan.scale, commit,
                            engine="spark").row()
        driver_tables = {
            schema.MOVIES: _movies_table(release, ratings),
            schema.POPULAR_MOVIES: _popular_lists(weighted, release.movies, settings.popular_n),
            schema.MODEL_METRICS: export_tables.model_metrics([row for ev in evaluations for row in ev.metric_rows()]),
            schema.BUILD_INFO: pl.DataFrame({"key": list(info), "value": [str(v) for v in info.values()]}),
        }
        target = spark_export.parquet_target(settings.out)
        manifest, report = _write_output(target, {schema.USER_RECOMMENDATIONS: recs, schema.SIMILAR_MOVIES: similar},
                                         driver_tables, settings, spark_settings, tracker)
        tracker.log_metrics({"build_seconds": time.perf_counter() - started})
    for frame in (*split.frames(), relevant, ratings, weighted):
        frame.unpersist()
    return SparkBuildResult(report, target, manifest, comparison, topn_champ, rating_champ, tracker.run_id,
                            settings.mlflow_uri, time.perf_counter() - started)


def _evaluate_all(impls: dict[str, SparkImplementation], ctx: EvalContext,
                  tracker: Tracker) -> tuple[list[ModelEvaluation], dict[str, models.AlsConfig]]:
    """Every chosen model under the protocols, one tracked run each; the configs the models chose."""
    evaluations = []
    tuned: dict[str, models.AlsConfig] = {}
    for name in progress(list(impls), desc="models", show=ctx.settings.progress, unit="model"):
        with tracker.model_run(name) as child_id:
            log.info("evaluating %s", name)
            ev, config = impls[name].evaluate(name, ctx)
            tracker.log_params(ev.params)
            record_evaluation(ev, tracker, engine=SPARK)
            ev.extra["mlflow_run_id"] = child_id
        evaluations.append(ev)
        if config is not None:
            tuned[name] = config
    return evaluations, tuned


def _retrain(ratings: DataFrame, impls: dict[str, SparkImplementation], tuned: dict[str, models.AlsConfig],
             tracker: Tracker) -> dict[str, ALSModel]:
    """Every model that chose a config refit on all ratings with it, each logged with the run."""
    finals: dict[str, ALSModel] = {}
    for name, config in tuned.items():
        log.info("retraining %s on all ratings", name)
        finals[name] = impls[name].refit(ratings, config)
        tracker.log_fitted_model(name, finals[name])
    return finals


def _write_output(target: Path, spark_tables: dict[str, DataFrame], driver_tables: dict[str, pl.DataFrame],
                  settings: BuildSettings, spark_settings: SparkSettings,
                  tracker: Tracker) -> tuple[dict, ArtifactReport | None]:
    """The Parquet output, then the DuckDB artifact assembled from it unless past the DuckDB budget."""
    log.info("writing Parquet output %s", target)
    manifest = spark_export.write_parquet(target, spark_tables, driver_tables, spark_settings.n_shards,
                                          spark_settings.row_group_bytes, tracker.run_id)
    tracker.log_dict(manifest, "parquet/manifest.json")
    report = None
    if manifest["rows"][schema.USER_RECOMMENDATIONS] <= spark_settings.duckdb_max_rows:
        report = spark_export.assemble_duckdb(target, settings.out)
        tracker.log_metrics({"artifact_mb": report.size_bytes / 1e6})
        tracker.set_tags({"artifact_sha256": report.sha256})
        tracker.log_params({"artifact_path": str(Path(settings.out).resolve())})
    else:
        log.info("user_recommendations has %d rows, past the DuckDB budget of %d: Parquet output only",
                 manifest["rows"][schema.USER_RECOMMENDATIONS], spark_settings.duckdb_max_rows)
    tracker.log_params({"parquet_path": str(target.resolve())})
    return manifest, report


def _log_context(tracker: Tracker, settings: BuildSettings, spark_settings: SparkSettings,
                 evaluation: EvaluationSettings, scale: str, release: SparkRelease, spark: SparkSession,
                 commit: str) -> None:
    tracker.set_tags({"git_commit": commit, "dataset": release.name, "dataset_sha256": release.sha256,
                      "package_version": __version__, "engine": "spark", "spark_version": spark.version,
                      "spark_master": spark.sparkContext.master or ""})
    tracker.log_params({"data_dir": str(settings.data_dir), "seed": settings.seed, "quick": settings.quick,
                        "scale": scale, "test_fraction": evaluation.test_fraction,
                        "relevance_threshold": evaluation.relevance_threshold,
                        "top_n": settings.top_n, "similar_n": settings.similar_n,
                        "min_cf_ratings": settings.min_cf_ratings, "max_eval_users": evaluation.max_eval_users,
                        "engine": "spark", "spark_shuffle_partitions": spark_settings.shuffle_partitions,
                        "spark_n_shards": spark_settings.n_shards})
    if release.uri.startswith("file:"):
        tracker.log_input(Path(release.uri.removeprefix("file://")).parent, release.name, release.sha256)
    if release.notes:
        tracker.log_dict({"notes": list(release.notes)}, "data/notes.json")


def _similar_movies(item_factors: DataFrame, ratings: DataFrame, release: SparkRelease, settings: BuildSettings,
                    spark_settings: SparkSettings) -> DataFrame:
    """Collaborative neighbours from the item factors (the SIMILAR_MOVIES model's) for movies with at least
    min_cf_ratings ratings, then the weighted popular list; never the movie itself, n per movie."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    spark = ratings.sparkSession
    n = settings.similar_n
    counts = ratings.groupBy("movie_id").agg(F.count("*").alias("n_ratings"))
    eligible = counts.where(F.col("n_ratings") >= settings.min_cf_ratings).select("movie_id")
    cf = (models.similar_items(item_factors, n, spark_settings.item_block)
          .join(eligible, "movie_id", "left_semi").where(F.col("score") > 0)
          .select("movie_id", "similar_movie_id", "score", F.lit(0).alias("priority"), F.col("rank").alias("pos"),
                  F.lit("cf").alias("source")))
    head = models.weighted_scores(ratings).orderBy(F.desc("score"), "movie_id").limit(n + 1).collect()
    top = spark.createDataFrame([(int(r["movie_id"]), float(r["score"]), pos) for pos, r in enumerate(head, 1)],
                                "movie_id int, score double, pos int")
    catalogue = spark.createDataFrame(release.movies.select("movie_id").to_arrow())
    cf_full = cf.groupBy("movie_id").count().where(F.col("count") >= n).select("movie_id")
    needy = catalogue.join(cf_full, "movie_id", "left_anti")
    top_ids = F.broadcast(top.select(F.col("movie_id").alias("similar_movie_id"), "score", "pos"))
    popular = needy.crossJoin(top_ids).select(
        "movie_id", "similar_movie_id", "score", F.lit(1).alias("priority"), "pos", F.lit("popular").alias("source"))
    merged = cf.unionByName(popular).where(F.col("movie_id") != F.col("similar_movie_id"))
    first = Window.partitionBy("movie_id", "similar_movie_id").orderBy("priority", "pos")
    ranked = Window.partitionBy("movie_id").orderBy("priority", "pos")
    return (merged.withColumn("_nth", F.row_number().over(first)).where(F.col("_nth") == 1)
            .withColumn("rank", F.row_number().over(ranked)).where(F.col("rank") <= n)
            .select(F.col("movie_id").cast("int"), F.col("rank").cast("int"),
                    F.col("similar_movie_id").cast("int"), F.col("score").cast("double"), "source"))


def _movies_table(release: SparkRelease, ratings: DataFrame) -> pl.DataFrame:
    """The movies table (build/export/tables.py) with the rating stats counted by Spark."""
    from pyspark.sql import functions as F

    counts = ratings.groupBy("movie_id").agg(F.count("*").alias("n_ratings"), F.avg("rating").alias("mean_rating"))
    return export_tables.movies_with_stats(release.movies, release.links, _from_arrow(counts.toArrow()))


def _popular_lists(weighted: DataFrame, movies: pl.DataFrame, n: int) -> pl.DataFrame:
    """The in-process popular lists (popularity.ranked_lists) of the weighted scores Spark computed, one row
    per rated movie collected to the driver: overall (genre NULL) and per genre, ties by lower movie id."""
    from latentlens.build.interactions import Vocabulary
    from latentlens.build.models.popularity import ranked_lists

    scored = _from_arrow(weighted.select("movie_id", "score").toArrow()).sort("movie_id")
    vocab = Vocabulary.from_ids(scored["movie_id"].to_numpy())
    genres = dict(zip(movies["movie_id"].to_list(), movies["genres"].to_list(), strict=True))
    item_genres = [genres.get(int(i)) or [] for i in vocab.ids]
    scores = scored["score"].to_numpy()
    lists = ranked_lists(scores, np.ones(scores.shape[0], dtype=bool), item_genres, n)
    return export_tables.popular_movies(lists, vocab)


def _from_arrow(table: pa.Table) -> pl.DataFrame:
    """A Spark result collected as Arrow (toArrow()), as polars."""
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)  # a Table is a DataFrame (an Array would be a Series)
    return frame
