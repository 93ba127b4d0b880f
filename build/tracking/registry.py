"""The MLflow model registry, told the truth: champions are logged with the build's run, but a
version is registered only once its artifact is published, and the alias `champion` names the
version behind the artifact on disk (`models:/latentlens-rating@champion`).

Each version carries the published artifact's sha256 and path, the dataset and the metrics
that chose it, as tags and in its description.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities.model_registry import ModelVersion

import latentlens._version
from latentlens.build.interactions import Interactions
from latentlens.build.models.base import Recommender
from latentlens.build.tracking import CHAMPION_ALIAS


@dataclass(frozen=True)
class LoggedModel:
    """A champion logged with the run, waiting for the artifact to be published."""

    kind: str                  # "rating" or "topn"
    model_name: str            # the LatentLens model, e.g. biased_mf
    model_uri: str
    metrics: dict[str, float]  # what made it champion
    model_id: str | None = None  # MLflow's logged model, which the registered version links


class SayOnce(logging.Filter):
    """Lets through the first record starting with `prefix`, drops the repeats: MLflow warns about CloudPickle on
    every pyfunc logged from an object, and a build logs one per champion (the warning stays, once)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix, self.said = prefix, False

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith(self.prefix):
            return True
        said, self.said = self.said, True
        return not said


def _pickle_warning_once() -> None:
    logger = logging.getLogger("mlflow.pyfunc")
    if not any(isinstance(f, SayOnce) for f in logger.filters):
        logger.addFilter(SayOnce("Passing a Python object as `python_model`"))


def log_evaluated_model(model: Recommender, data: Interactions, top_n: int) -> str:
    """An evaluated model's fit on the training split, in its own run under the name `model`: a rating model as
    (userId, movieId) -> rating, any other as userId -> its top `top_n`."""
    from latentlens.build.models.capabilities import RatingPredictor

    if isinstance(model, RatingPredictor):
        return log_rating_model(model, data, {}, name="model").model_uri
    return log_topn_model(model, data, top_n, {}, name="model").model_uri


def log_rating_model(model: Recommender, full: Interactions, metrics: dict[str, float],
                     name: str = "rating_model") -> LoggedModel:
    """The rating champion as a pyfunc with a signature (not registered yet)."""
    from latentlens.build.models.capabilities import RatingPredictor
    from latentlens.build.tracking.pyfunc_model import SIGNATURE, RatingModel

    assert isinstance(model, RatingPredictor), f"{model.name} does not predict ratings"
    _pickle_warning_once()

    example = pd.DataFrame({"userId": full.users.ids[full.user_idx[:3]].astype(np.int64),  # 3 rated pairs
                            "movieId": full.items.ids[full.item_idx[:3]].astype(np.int64)})
    info = mlflow.pyfunc.log_model(name=name, python_model=RatingModel(model, full.users, full.items),
                                   signature=SIGNATURE, input_example=example, code_paths=[_code_path()],
                                   pip_requirements=pip_requirements())
    mlflow.set_tag(f"{name}_uri", info.model_uri)
    return LoggedModel("rating", model.name, info.model_uri, metrics, info.model_id)


def log_topn_model(model: Recommender, full: Interactions, top_n: int, metrics: dict[str, float],
                   name: str = "topn_model") -> LoggedModel:
    """The top-N champion as a pyfunc: userId in, the artifact's ranked list out (not registered yet)."""
    from latentlens.build.tracking.pyfunc_model import TopNModel, topn_signature

    _pickle_warning_once()
    example = pd.DataFrame({"userId": full.users.ids[:2].astype(np.int64)})
    info = mlflow.pyfunc.log_model(name=name,
                                   python_model=TopNModel(model, full.users, full.items, full.histories, top_n),
                                   signature=topn_signature(top_n), input_example=example,
                                   code_paths=[_code_path()], pip_requirements=pip_requirements())
    mlflow.set_tag(f"{name}_uri", info.model_uri)
    return LoggedModel("topn", model.name, info.model_uri, metrics, info.model_id)


def register_published(logged: LoggedModel, registered_name: str, run_id: str, artifact_path: Path,
                       artifact_sha256: str, dataset: str, dataset_sha256: str) -> ModelVersion:
    """Register `logged` as a new version of `registered_name` and point `champion` at it.

    Call only after the artifact is published, under the store lock (runs.store_lock), so the
    alias and the artifact on disk name the same latentlens.build."""
    client = mlflow.MlflowClient()
    if not client.search_registered_models(f"name = '{registered_name}'"):
        client.create_registered_model(registered_name, description=_model_description(logged.kind))
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in logged.metrics.items())
    description = (f"{logged.model_name} ({'rating' if logged.kind == 'rating' else 'top-N'} champion) trained on "
                   f"{dataset} (sha256 {dataset_sha256[:16]}…); {metrics or 'no metrics'}; "
                   f"published in {artifact_path} (sha256 {artifact_sha256}).")
    tags = {"artifact_sha256": artifact_sha256, "artifact_path": str(Path(artifact_path).resolve()),
            "dataset": dataset, "dataset_sha256": dataset_sha256, "model": logged.model_name,
            "package_version": latentlens._version.__version__,
            **{f"metric.{k}": f"{v:.6g}" for k, v in logged.metrics.items()}}
    version = client.create_model_version(registered_name, logged.model_uri, run_id=run_id, tags=tags,
                                          description=description, model_id=logged.model_id)
    client.set_registered_model_alias(registered_name, CHAMPION_ALIAS, version.version)
    if logged.model_id:
        _link_logged_model(client, logged.model_id, version)
    return version


def _link_logged_model(client: mlflow.MlflowClient, model_id: str, version: ModelVersion) -> None:
    """The logged model's list of its registered versions, as mlflow.register_model keeps it: the UI shows the
    model as registered from it (a sqlite registry keeps no model_id on the version itself)."""
    import json

    from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

    listed = json.loads(client.get_logged_model(model_id).tags.get(MLFLOW_MODEL_VERSIONS, "[]"))
    entry = {"name": version.name, "version": int(version.version)}
    if entry not in listed:
        client.set_logged_model_tags(model_id, {MLFLOW_MODEL_VERSIONS: json.dumps([*listed, entry])})


def _model_description(kind: str) -> str:
    if kind == "rating":
        return ("LatentLens rating champion: (userId, movieId) -> predicted stars. "
                "@champion is the version behind the published artifact.")
    return ("LatentLens top-N champion: userId -> (userId, rank, movieId, score), the lists of the artifact's "
            "user_recommendations (param n). @champion is the version behind the published artifact.")


def _code_path() -> str:
    # The whole `latentlens` package (its build/ and handler/ links followed on copy), so the pickled
    # models' classes unpickle under their installed names, latentlens.build.models.*.
    return str(Path(latentlens._version.__file__).resolve().parent)


def pip_requirements() -> list[str]:
    from importlib.metadata import version

    pkgs = ["mlflow", "numpy", "scipy", "pandas", "polars", "pydantic", "scikit-surprise", "scikit-learn",
            "duckdb", "tqdm"]
    return [f"{p}=={version(p)}" for p in pkgs]
