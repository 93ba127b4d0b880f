"""`latentlens build --engine spark`: the one pipeline (build/pipeline.py) with Apache Spark behind it.

How ratings are held (DataFrames, the protocol's splits persisted), how a model is fit and scored (the
registry's Spark implementations, build/engines/spark/implementations.py: a model without one is
reported as skipped, with the reason) and how the tables are written (Parquet shards, then the DuckDB
artifact). The stages, the records, the champion rule and the build info are the pipeline's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from latentlens.build.build_info import BuildInfo, DatasetFacts
from latentlens.build.engines.engine import Output
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
from latentlens.build.progress import get_logger
from latentlens.build.scale import choose_scale, plan_for
from latentlens.build.settings import BuildSettings, EvaluationSettings, Scale, SettingsError
from latentlens.build.stages.champions import Champions
from latentlens.build.stages.evaluate import Comparison, ModelEvaluation
from latentlens.build.tracking.tracker import Tracker
from latentlens.handler import schema

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.ml.recommendation import ALSModel
    from pyspark.sql import DataFrame, SparkSession

log = get_logger(__name__)

SPARK: registry.Engine = "spark"

COMPARISON_CAPTION = ("Spark engine: top-N on the temporal holdout of sampled users; "
                      "RMSE on the rating protocol model_metrics names.")


class SparkEngine:
    """Apache Spark: ratings as DataFrames, models fit by pyspark.ml, the tables written as Parquet shards
    and assembled into the DuckDB artifact. `spark`: a session to use (default: one from the settings)."""

    name: registry.Engine = SPARK

    def __init__(self, spark_settings: SparkSettings | None = None, spark: SparkSession | None = None) -> None:
        self.spark_settings = spark_settings or SparkSettings()
        self.spark = spark

    def selection(self, settings: BuildSettings) -> registry.Selection:
        """The registry's models on this engine (the others skipped with the reason), plus the models the
        Spark export takes by role whatever was asked, in registry order. `--challenger` and `--events` are the
        in-process engine's: refused here, before anything is read."""
        refused = [flag for flag, given in (("--challenger", settings.challenger), ("--events", settings.events))
                   if given]
        if refused:
            raise SettingsError(f"{' and '.join(refused)}: not on the Spark engine (it exports no challenger's lists "
                                "and learns from no event store); build with --engine inprocess")
        chosen = registry.selection(settings.models, SPARK)
        needed = set(registry.export_models(SPARK)) | {spec.name for spec in chosen.specs}
        return registry.Selection([spec for name, spec in registry.all_specs().items() if name in needed],
                                  {name: reason for name, reason in chosen.skipped.items() if name not in needed})

    @contextmanager
    def open(self, settings: BuildSettings, chosen: registry.Selection) -> Iterator[SparkRun]:
        spark = self.spark or spark_session(self.spark_settings)
        with tempfile.TemporaryDirectory(prefix="latentlens-spark-") as scratch:
            run = SparkRun.read(settings, self.spark_settings, spark, chosen, Path(scratch))
            try:
                yield run
            finally:
                run.unpersist()


class SparkRun:
    """One Spark build: the release read, the protocol's splits persisted, the models' implementations."""

    engine: registry.Engine = SPARK

    def __init__(self, settings: BuildSettings, spark_settings: SparkSettings, spark: SparkSession,
                 release: SparkRelease, ctx: EvalContext, dataset: DatasetFacts, scale: Scale,
                 skipped: dict[str, str]) -> None:
        self.settings, self.spark_settings, self.spark = settings, spark_settings, spark
        self.release, self.ctx, self.dataset, self.scale, self.skipped = release, ctx, dataset, scale, skipped
        self.evaluation: EvaluationSettings = ctx.evaluation
        self.caption = COMPARISON_CAPTION
        self.sampled: dict[str, int] = ctx.split.sampled
        self._cached: list[DataFrame] = [*ctx.split.frames(), ctx.relevant]

    @classmethod
    def read(cls, settings: BuildSettings, spark_settings: SparkSettings, spark: SparkSession,
             chosen: registry.Selection, scratch: Path) -> SparkRun:
        """The release read and split by the in-process protocol's rules."""
        release = read_release(spark, settings.data_dir, settings.keep_last_duplicate, scratch)
        ratings = release.ratings
        n_items = release.movies.height
        n_users = ratings.select("user_id").distinct().count()
        plan = plan_for(choose_scale(settings.scale, release.n_ratings))
        evaluation = plan.apply(settings.evaluation)
        split = splits(ratings, evaluation, settings.seed)
        relevant = spark_eval.relevant(split.test, evaluation.relevance_threshold).persist()
        log.info("spark: %s: %d users, %d movies, %d ratings; %s", release.name, n_users, n_items,
                 release.n_ratings, split.describe())
        n_rated = ratings.select("movie_id").distinct().count()
        dataset = DatasetFacts(name=release.name, path=release.uri.rsplit("/", 1)[0].removeprefix("file://"),
                               sha256=release.sha256, n_users=n_users, n_movies=n_items, n_rated_movies=n_rated,
                               n_ratings=release.n_ratings)
        ctx = EvalContext(split, relevant, n_items, evaluation, settings, release.rating_scale, scratch)
        return cls(settings, spark_settings, spark, release, ctx, dataset, plan.scale, chosen.skipped)

    def unpersist(self) -> None:
        """The run's cached DataFrames dropped from the executors' memory."""
        for frame in (*self._cached, self.release.ratings):
            frame.unpersist()

    def record_context(self, tracker: Tracker) -> None:
        release, spark = self.release, self.spark
        tracker.set_tags({"engine": SPARK, "spark_version": spark.version,
                          "spark_master": spark.sparkContext.master or ""})
        tracker.log_params({"engine": SPARK, "spark_shuffle_partitions": self.spark_settings.shuffle_partitions,
                            "spark_n_shards": self.spark_settings.n_shards})
        if release.uri.startswith("file:"):
            tracker.log_input(Path(release.uri.removeprefix("file://")).parent, release.name, release.sha256)
        if release.notes:
            tracker.log_dict({"notes": list(release.notes)}, "data/notes.json")

    def evaluate(self, spec: registry.ModelSpec, tracker: Tracker) -> ModelEvaluation:
        """The model's Spark implementation on the shared protocol; what it chose is kept for the refit."""
        implementation: SparkImplementation = spec.implementation(SPARK)
        ev, config = implementation.evaluate(spec.name, self.ctx)
        ev.tuned = config
        return ev

    def retrain(self, comparison: Comparison, champions: Champions, tracker: Tracker) -> dict[str, ALSModel]:
        """Every model that chose a config refit on all ratings with it, each logged with the run."""
        finals: dict[str, ALSModel] = {}
        for name, config in comparison.tuned().items():
            log.info("retraining %s on all ratings", name)
            assert isinstance(config, models.AlsConfig)  # what the Spark implementations choose
            finals[name] = _implementation(name).refit(self.release.ratings, config)
            tracker.log_fitted_model(name, finals[name])
        return finals

    def export(self, comparison: Comparison, finals: dict[str, ALSModel], info: BuildInfo,
               tracker: Tracker) -> Output:
        """The top-N lists of the champion (with because reasons), similar movies from the SIMILAR_MOVIES
        model's item factors, the driver's small tables; Parquet, then the DuckDB artifact."""
        settings, ratings, release = self.settings, self.release.ratings, self.release
        champion = info.topn_champion  # popularity always runs the top-N protocol: never empty here
        log.info("top-%d for %d users with %s", settings.top_n, self.dataset.n_users, champion)
        candidates = _implementation(champion).candidates(ratings, finals.get(champion))
        users = ratings.select("user_id").distinct()
        recs = models.top_unseen(candidates, users, ratings, settings.top_n, self.ctx.n_items)
        cf = registry.for_role(registry.SIMILAR_MOVIES, SPARK).name  # item factors: similar movies and reasons
        factors = _implementation(cf).item_factors(finals[cf])
        recs = with_because(recs, ratings, factors, schema.BECAUSE_N, schema.BECAUSE_RANKS)
        similar = _similar_movies(factors, ratings, release, settings, self.spark_settings)
        weighted = models.weighted_scores(ratings).persist()
        driver_tables = {
            schema.MOVIES: _movies_table(release, ratings),
            schema.POPULAR_MOVIES: _popular_lists(weighted, release.movies, settings.popular_n),
            schema.MODEL_METRICS: export_tables.model_metrics(
                [row for ev in comparison.evaluations for row in ev.metric_rows()]),
            schema.BUILD_INFO: pl.DataFrame({"key": list(info.row()), "value": list(info.row().values())}),
        }
        target = spark_export.parquet_target(settings.out)
        manifest, report = _write_output(target, {schema.USER_RECOMMENDATIONS: recs, schema.SIMILAR_MOVIES: similar},
                                         driver_tables, settings, self.spark_settings, tracker)
        weighted.unpersist()
        return Output(report, None, target, manifest)


def _implementation(name: str) -> SparkImplementation:
    return registry.all_specs()[name].implementation(SPARK)


def _write_output(target: Path, spark_tables: dict[str, DataFrame], driver_tables: dict[str, pl.DataFrame],
                  settings: BuildSettings, spark_settings: SparkSettings,
                  tracker: Tracker) -> tuple[dict, ArtifactReport | None]:
    """The Parquet output, then the DuckDB artifact assembled from it unless past the DuckDB budget."""
    log.info("writing Parquet output %s", target)
    manifest = spark_export.write_parquet(target, spark_tables, driver_tables, spark_settings.n_shards,
                                          spark_settings.row_group_bytes, tracker.run_id)
    tracker.log_dict(manifest, "parquet/manifest.json")
    if manifest["rows"][schema.USER_RECOMMENDATIONS] <= spark_settings.duckdb_max_rows:
        return manifest, spark_export.assemble_duckdb(target, settings.out, force=settings.force)
    log.info("user_recommendations has %d rows, past the DuckDB budget of %d: Parquet output only",
             manifest["rows"][schema.USER_RECOMMENDATIONS], spark_settings.duckdb_max_rows)
    return manifest, None


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
