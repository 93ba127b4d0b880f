"""`latentlens build`: prepare → evaluate → choose champions → retrain → export and publish.

Each stage is a plain function with typed inputs and outputs (build/stages/); this module only
chains them inside one tracked run. Only `prepare` reads input files and only `publish` writes
the artifact. The tracker (build/tracking/tracker.py) is the one place that talks to MLflow, so
`run(settings, tracker=NullTracker())` builds without a tracking store.

Engines: the Spark engine (build/engines/spark/) runs the same chain on Spark: its own prepare,
evaluate and export, and the shared ModelEvaluation, comparison table, champion rule, BuildInfo
and report.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from latentlens._version import __version__
from latentlens.build.build_info import BuildInfo, DatasetFacts, git_commit
from latentlens.build.export.artifact import ArtifactReport
from latentlens.build.report import format_table
from latentlens.build.settings import BuildSettings
from latentlens.build.stages.champions import choose_champions
from latentlens.build.stages.evaluate import evaluate, record_comparison
from latentlens.build.stages.export import artifact_tables, log_champion_models, publish
from latentlens.build.stages.prepare import Prepared, prepare, record_context
from latentlens.build.stages.retrain import retrain
from latentlens.build.tracking.tracker import MlflowTracker, Tracker


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


def run(settings: BuildSettings, tracker: Tracker | None = None) -> BuildResult:
    started = time.perf_counter()
    prepared = prepare(settings)
    tracker = tracker or MlflowTracker(settings.mlflow_uri, settings.experiment)
    commit = git_commit()
    with tracker.build_run(f"{prepared.data.name} {datetime.now(UTC):%Y-%m-%d %H:%M:%S}"):
        record_context(prepared, tracker, commit, __version__)
        comparison = evaluate(prepared, tracker)
        champions = choose_champions(comparison.evaluations, settings)
        tracker.set_tags(champions.tags())
        record_comparison(comparison, settings.evaluation.k, tracker)
        finals = retrain(prepared, comparison, champions, tracker)
        logged = log_champion_models(prepared, comparison, finals, tracker)
        info = build_info(prepared, champions.topn, champions.rating, tracker.run_id, commit)
        published = publish(prepared, artifact_tables(prepared, comparison, finals, info, tracker), logged, tracker)
        tracker.log_metrics({"artifact_mb": published.artifact.size_bytes / 1e6,
                             "build_seconds": time.perf_counter() - started})
        tracker.set_tags({"artifact_sha256": published.artifact.sha256})
        tracker.log_params({"artifact_path": str(Path(settings.out).resolve())})
    return BuildResult(published.artifact, comparison.table, champions.topn, champions.rating, tracker.run_id,
                       settings.mlflow_uri, time.perf_counter() - started, published.registered,
                       tracker.experiment_id, comparison.caption)


def build_info(prepared: Prepared, topn_champion: str | None, rating_champion: str | None, run_id: str,
               git_commit: str) -> BuildInfo:
    full = prepared.full
    dataset = DatasetFacts(
        name=prepared.data.name, path=str(Path(prepared.settings.data_dir).resolve()), sha256=prepared.data.sha256,
        n_users=full.n_users, n_movies=full.n_items,
        n_rated_movies=int(prepared.summary.get("rated_movies", np.unique(full.item_idx).size)),
        n_ratings=full.n_ratings)
    return BuildInfo.of(prepared.settings, dataset, topn_champion, rating_champion, run_id, prepared.plan.scale,
                        git_commit)
