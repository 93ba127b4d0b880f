"""The one object a build talks to about tracking: MlflowTracker writes MLflow, NullTracker only remembers.

Stages take a `Tracker` and never import mlflow, so each stage runs in a test without a tracking
store (NullTracker keeps what it was told in memory, for the test to read). MlflowTracker is the
build's layout: a parent run per build, one nested run per model, the comparison and plots on the
parent, the champions logged with the run and registered once their artifact is published.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import polars as pl

    from latentlens.build.data.tables import MovieLensData
    from latentlens.build.tracking.registry import LoggedModel


class Tracker(Protocol):
    """What a build records; every MLflow call of either engine goes through one of these."""

    run_id: str
    experiment_id: str

    def check_store(self) -> None:
        """Before the data is read: the store can be reached and written (TrackingStoreError, exit 2)."""

    def build_run(self, name: str) -> AbstractContextManager[None]:
        """The build's parent run: everything below is recorded inside it."""

    def model_run(self, name: str) -> AbstractContextManager[str]:
        """A nested run for one model; yields its run id."""

    def set_tags(self, tags: Mapping[str, str]) -> None: ...

    def log_params(self, params: Mapping[str, Any]) -> None: ...

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...

    def log_dict(self, record: dict, name: str) -> None: ...

    def log_dataset(self, data: MovieLensData, data_dir: Path, summary: dict) -> None:
        """Which data the build read (path and sha256), its summary and its distribution plots."""

    def log_input(self, data_dir: Path, name: str, sha256: str) -> None:
        """Which data the build read, by path and sha256 only (the Spark engine's ratings stay on the cluster)."""

    def log_comparison(self, comparison: pl.DataFrame, caption: str, metric: str,
                       rmse_per_fold: dict[str, list[float]]) -> None:
        """The side-by-side table (CSV and Markdown) and its plots, on the parent run."""

    def log_model(self, kind: str, model, full, metrics: dict[str, float], top_n: int) -> LoggedModel | None:
        """A champion logged with the run (a pyfunc); `kind` is "rating" or "topn"."""

    def log_evaluated_model(self, model: Any, data: Any, top_n: int) -> str | None:
        """An evaluated model's fit on the training split, in its own run, as a pyfunc with a signature (rating
        models: userId, movieId -> rating; top-N models: userId -> ranked movies); returns its URI."""

    def log_fitted_model(self, name: str, model: Any) -> str:
        """A fitted model of any engine under `name` on the build run (MLflow's flavour for its type: a
        Spark ML model in the Spark flavour, anything else pickled); tag `<name>_model_uri`; returns its URI."""

    def publishing(self) -> AbstractContextManager[None]:
        """Held while the artifact is published and its champions registered (one store, one winner)."""

    def register(self, logged: LoggedModel, registered_name: str, artifact_path: Path, artifact_sha256: str,
                 dataset: str, dataset_sha256: str) -> str:
        """Register a logged champion as a new version, alias @champion; returns "name vN"."""


class MlflowTracker:
    """A build tracked in an MLflow store (`tracking_uri`), under `experiment`."""

    def __init__(self, tracking_uri: str, experiment: str, timeout_s: float = 30.0,
                 scratch_root: Path | None = None, needed_bytes: int | None = None) -> None:
        from latentlens.build.tracking.preflight import MIN_FREE_BYTES

        self.tracking_uri = tracking_uri
        self.needed_bytes = MIN_FREE_BYTES if needed_bytes is None else needed_bytes  # free room check_store asks
        self.experiment = experiment
        self.timeout_s = timeout_s  # for reaching a tracking server (check_store) and any request of the build
        self.scratch_root = scratch_root  # None: the system's temporary directory (build/tracking/scratch.py)
        self.run_id = ""
        self.experiment_id = ""
        self._scratch: Path | None = None
        self._lost: str | None = None  # the request that got no answer, once the tracking server is lost

    @property
    def scratch(self) -> Path:
        """The build run's temporary folder, where files are written before they are logged:
        `latentlens-mlflow-<pid>-*` in the temporary directory, swept by the next build if this one is killed."""
        if self._scratch is None:
            raise RuntimeError("MlflowTracker: no build run open (use `with tracker.build_run(...)`)")
        return self._scratch

    def check_store(self) -> None:
        from latentlens.build.tracking.preflight import check_store

        check_store(self.tracking_uri, self.timeout_s, self.needed_bytes)

    @contextmanager
    def build_run(self, name: str) -> Iterator[None]:
        """The parent run, with every MLflow request of the build held to `timeout_s` (build/tracking/limits.py):
        a server lost on the way is TrackingLost, one line, once the open runs are ended (a second each)."""
        import mlflow

        from latentlens.build.tracking import limits, runs
        from latentlens.build.tracking.scratch import scratch_dir

        bounds = limits.HttpLimits.within(self.timeout_s)
        self._lost = None
        try:
            with limits.applied(bounds):
                self.experiment_id = runs.setup_experiment(self.tracking_uri, self.experiment)
                with (mlflow.start_run(run_name=name) as parent, scratch_dir(self.scratch_root) as scratch,
                      self._giving_up()):
                    self.run_id = parent.info.run_id
                    self._scratch = scratch
                    runs.tag_build_process()
                    try:
                        yield
                    finally:
                        self._scratch = None
        except Exception as exc:
            lost = self._lost or limits.request_failure(exc)
            if lost is None:
                raise
            raise limits.TrackingLost(self.tracking_uri, lost, bounds) from exc

    @contextmanager
    def _giving_up(self) -> Iterator[None]:
        """Inside a run: a request that got no answer is remembered, and ending the runs open gets one short
        attempt each instead of a full timeout (the runs stay RUNNING on the server; the next build marks them)."""
        from latentlens.build.tracking import limits

        try:
            yield
        except Exception as exc:
            if self._lost is None and (lost := limits.request_failure(exc)) is not None:
                self._lost = lost
                limits.give_up()
            raise

    @contextmanager
    def model_run(self, name: str) -> Iterator[str]:
        """A nested run tagged with the model's name."""
        import mlflow

        with mlflow.start_run(run_name=name, nested=True) as child, self._giving_up():
            mlflow.set_tag("model", name)
            yield child.info.run_id

    def set_tags(self, tags: Mapping[str, str]) -> None:
        import mlflow

        mlflow.set_tags(dict(tags))

    def log_params(self, params: Mapping[str, Any]) -> None:
        from latentlens.build.tracking import runs

        runs.log_params(params)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from latentlens.build.tracking import runs

        runs.log_metrics(metrics, step=step)

    def log_dict(self, record: dict, name: str) -> None:
        import mlflow

        mlflow.log_dict(record, name)

    def log_dataset(self, data: MovieLensData, data_dir: Path, summary: dict) -> None:
        import mlflow

        from latentlens.build.tracking import plots

        self.log_input(data_dir, data.name, data.sha256)
        path = self.scratch / "dataset_summary.json"
        path.write_text(json.dumps(summary, indent=2, default=str))
        mlflow.log_artifact(str(path), "data")
        mlflow.log_artifact(str(plots.rating_distribution(data.ratings, self.scratch / "rating_distribution.png")),
                            "plots")
        mlflow.log_artifact(str(plots.long_tail(data.ratings, self.scratch / "long_tail.png")), "plots")

    def log_input(self, data_dir: Path, name: str, sha256: str) -> None:
        from latentlens.build.tracking import runs

        runs.log_dataset(data_dir, name, sha256)

    def log_comparison(self, comparison: pl.DataFrame, caption: str, metric: str,
                       rmse_per_fold: dict[str, list[float]]) -> None:
        import mlflow

        from latentlens.build.report import markdown_table
        from latentlens.build.tracking import plots

        workdir = self.scratch
        csv_path = workdir / "comparison.csv"
        comparison.write_csv(csv_path)
        md_path = workdir / "comparison.md"
        md_path.write_text(markdown_table(comparison) + f"\n{caption}\n")
        for path in (csv_path, md_path):
            mlflow.log_artifact(str(path), "comparison")
        if metric in comparison.columns and comparison[metric].is_not_null().any():
            mlflow.log_artifact(str(plots.model_comparison(comparison, metric, workdir / "ndcg.png")), "plots")
        if rmse_per_fold:
            mlflow.log_artifact(str(plots.rmse_per_fold(rmse_per_fold, workdir / "rmse_per_fold.png")), "plots")

    def log_model(self, kind: str, model, full, metrics: dict[str, float], top_n: int) -> LoggedModel:
        from latentlens.build.tracking import registry

        if kind == "rating":
            return registry.log_rating_model(model, full, metrics)
        return registry.log_topn_model(model, full, top_n, metrics)

    def log_evaluated_model(self, model: Any, data: Any, top_n: int) -> str:
        from latentlens.build.tracking import registry

        return registry.log_evaluated_model(model, data, top_n)

    def log_fitted_model(self, name: str, model: Any) -> str:
        import mlflow

        if type(model).__module__.startswith("pyspark.ml"):
            from importlib.metadata import version

            import mlflow.spark

            # a local dfs_tmpdir: MLflow's default is a DFS path, which local mode does not have
            uri = mlflow.spark.log_model(model, artifact_path=name, dfs_tmpdir=str(self.scratch / f"dfs-{name}"),
                                         pip_requirements=[f"pyspark=={version('pyspark')}"]).model_uri
        else:
            import pickle

            path = self.scratch / f"{name}.pkl"
            path.write_bytes(pickle.dumps(model))
            mlflow.log_artifact(str(path), name)
            uri = f"runs:/{self.run_id}/{name}/{path.name}"
        mlflow.set_tag(f"{name}_model_uri", uri)
        return uri

    def publishing(self) -> AbstractContextManager[None]:
        from latentlens.build.tracking import runs

        return runs.store_lock(self.tracking_uri)

    def register(self, logged: LoggedModel, registered_name: str, artifact_path: Path, artifact_sha256: str,
                 dataset: str, dataset_sha256: str) -> str:
        from latentlens.build.tracking import registry

        version = registry.register_published(logged, registered_name, self.run_id, artifact_path, artifact_sha256,
                                              dataset, dataset_sha256)
        return f"{registered_name} v{version.version}"


class NullTracker:
    """Tracks nothing anywhere: it keeps what it was told in memory (for tests) and logs no models."""

    def __init__(self) -> None:
        self.run_id = ""
        self.experiment_id = ""
        self.tags: dict[str, str] = {}
        self.params: dict[str, Any] = {}
        self.metrics: dict[str, float] = {}
        self.dicts: dict[str, dict] = {}
        self.model_runs: list[str] = []
        self.fitted_models: list[str] = []
        self.evaluated_models: list[str] = []  # the model runs log_evaluated_model was called in
        self.comparison: pl.DataFrame | None = None
        self._current = ""

    def check_store(self) -> None:
        return None

    @contextmanager
    def build_run(self, name: str) -> Iterator[None]:
        yield

    @contextmanager
    def model_run(self, name: str) -> Iterator[str]:
        self.model_runs.append(name)
        self._current = f"{name}/"
        try:
            yield ""
        finally:
            self._current = ""

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.tags.update({self._current + k: v for k, v in tags.items()})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.params.update({self._current + k: v for k, v in params.items()})

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        suffix = "" if step is None else f"@{step}"
        self.metrics.update({self._current + k + suffix: v for k, v in metrics.items() if v is not None})

    def log_dict(self, record: dict, name: str) -> None:
        self.dicts[self._current + name] = record

    def log_dataset(self, data: MovieLensData, data_dir: Path, summary: dict) -> None:
        self.dicts["data/dataset_summary.json"] = summary

    def log_input(self, data_dir: Path, name: str, sha256: str) -> None:
        self.params["input"] = f"{name} {sha256} {data_dir}"

    def log_comparison(self, comparison: pl.DataFrame, caption: str, metric: str,
                       rmse_per_fold: dict[str, list[float]]) -> None:
        self.comparison = comparison

    def log_model(self, kind: str, model, full, metrics: dict[str, float], top_n: int) -> None:
        return None

    def log_evaluated_model(self, model: Any, data: Any, top_n: int) -> None:
        self.evaluated_models.append(self._current.rstrip("/"))

    def log_fitted_model(self, name: str, model: Any) -> str:
        self.fitted_models.append(name)
        return ""

    def publishing(self) -> AbstractContextManager[None]:
        return nullcontext()

    def register(self, logged: LoggedModel, registered_name: str, artifact_path: Path, artifact_sha256: str,
                 dataset: str, dataset_sha256: str) -> str:
        raise AssertionError("NullTracker logs no models, so there is nothing to register")
