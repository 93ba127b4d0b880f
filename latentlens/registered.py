"""`latentlens.load_model(...)`: a champion the build registered in MLflow, scoring users in code.

The build registers two pyfuncs (latentlens.build.tracking.registry): `latentlens-topn` (userId in,
the ranked list out: the artifact's user_recommendations) and `latentlens-rating` ((userId, movieId)
in, predicted stars out), with `@champion` on the version behind the published artifact. This wraps
either in plain Python calls: `recommend(user_ids, n)` and `predict(pairs)`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

_KINDS: dict[tuple[str, ...], Literal["topn", "rating"]] = {("userId",): "topn", ("userId", "movieId"): "rating"}
_REGISTERED = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))/?$")
_LOGGED = re.compile(r"^models:/(?P<id>m-[0-9a-f]+)/?$")


def load_model(model_uri: str, *, tracking_uri: str | None = None) -> RegisteredModel:
    """Load a LatentLens model from MLflow: a registered version (`models:/latentlens-topn@champion`,
    `models:/latentlens-rating/3`), a logged model (`models:/m-<id>`), or a local model directory.

    `tracking_uri` defaults as `latentlens build --mlflow-uri` does ($MLFLOW_TRACKING_URI, else the sqlite
    store ./mlflow.db) and is used for this call only (MLflow's global URIs are left alone). A
    sqlite file that does not exist is a FileNotFoundError (MLflow would create an empty store), a model or
    alias the store does not have a LookupError, and an MLflow model that is neither LatentLens pyfunc a
    ValueError. Needs the `build` extra (mlflow, numpy, pandas, polars)."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from latentlens.build.settings import default_tracking_uri

    tracking = default_tracking_uri(tracking_uri)
    if tracking.startswith("sqlite:///"):
        db = Path(tracking.removeprefix("sqlite:///"))
        if not db.is_file():
            raise FileNotFoundError(f"{db}: no MLflow store there (run `latentlens build` or pass tracking_uri=...)")
    client = MlflowClient(tracking_uri=tracking, registry_uri=tracking)
    try:
        location, version = _locate(client, model_uri)
        local = mlflow.artifacts.download_artifacts(artifact_uri=location, tracking_uri=tracking)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in exc.message.lower():
            raise LookupError(f"{model_uri} is not in {tracking}: {exc.message}") from None
        raise
    pyfunc = mlflow.pyfunc.load_model(local)
    schema = pyfunc.metadata.get_input_schema()
    names = tuple(schema.input_names()) if schema is not None else ()
    kind = _KINDS.get(names)
    if kind is None:
        raise ValueError(f"{model_uri}: not a LatentLens model (inputs {list(names)}; the top-N model takes "
                         "[userId], the rating model [userId, movieId])")
    return RegisteredModel(model_uri, kind, pyfunc, version)


def _locate(client, model_uri: str):
    """(where the model's files are, the registry's ModelVersion or None), through `client` only: MLflow's
    own `models:/` resolution asks the process-wide registry, whatever tracking URI it is given."""
    registered = _REGISTERED.match(model_uri)
    if registered is not None:
        name = registered["name"]
        version = (client.get_model_version_by_alias(name, registered["alias"]) if registered["alias"]
                   else client.get_model_version(name, registered["version"]))
        return client.get_model_version_download_uri(name, version.version), version
    logged = _LOGGED.match(model_uri)
    if logged is not None:
        return client.get_logged_model(logged["id"]).artifact_location, None
    return model_uri, None


class RegisteredModel:
    """A loaded LatentLens pyfunc: `kind` "topn" (call recommend) or "rating" (call predict).

    `version` is the registry's ModelVersion when the URI named one (its `tags` carry the published
    artifact's `artifact_sha256`, the dataset and the metrics that chose it); `pyfunc` is MLflow's model."""

    def __init__(self, uri: str, kind: Literal["topn", "rating"], pyfunc: Any, version: Any = None) -> None:
        self.uri = uri
        self.kind = kind
        self.pyfunc = pyfunc
        self.version = version

    def __repr__(self) -> str:
        return f"<latentlens.RegisteredModel {self.uri!r} ({self.kind})>"

    @property
    def tags(self) -> dict[str, str]:
        """The registered version's tags (artifact_sha256, dataset, model, metric.*), or {}."""
        return dict(self.version.tags) if self.version is not None else {}

    def recommend(self, user_ids: int | Iterable[int], n: int = 10) -> pl.DataFrame:
        """Top-n per user, as the artifact's user_recommendations stores them: columns user_id, rank,
        movie_id, score, users in the order given. A user the model has not seen gets its cold-start list."""
        if self.kind != "topn":
            raise TypeError(f"{self.uri} is a rating model ((userId, movieId) -> stars): call predict(pairs)")
        import numpy as np
        import pandas as pd
        import polars as pl

        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n: must be a positive integer, not {n!r}")
        ids = np.atleast_1d(np.asarray(list(user_ids) if not isinstance(user_ids, int) else user_ids, dtype=np.int64))
        schema = {"user_id": pl.Int64, "rank": pl.Int64, "movie_id": pl.Int64, "score": pl.Float64}
        if ids.size == 0:
            return pl.DataFrame(schema=schema)
        out = self.pyfunc.predict(pd.DataFrame({"userId": ids}), params={"n": n})
        frame = pl.from_pandas(out).rename({"userId": "user_id", "movieId": "movie_id"})
        # polars types cast()'s keys as column-or-selector, which no dict[str, ...] matches (pola-rs/polars#14468)
        return frame.select(list(schema)).cast(schema)  # type: ignore[arg-type]  # polars#14468, above

    def predict(self, pairs: Iterable[tuple[int, int]]) -> np.ndarray:
        """Predicted stars for (user_id, movie_id) pairs, in order; unknown ids get the model's fallback."""
        if self.kind != "rating":
            raise TypeError(f"{self.uri} is a top-N model (userId -> ranked list): call recommend(user_ids, n)")
        import numpy as np
        import pandas as pd

        arr = np.asarray(list(pairs), dtype=np.int64)
        if arr.size == 0:
            return np.empty(0, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError("pairs: give (user_id, movie_id) pairs, e.g. [(1, 858), (1, 1221)]")
        out = self.pyfunc.predict(pd.DataFrame({"userId": arr[:, 0], "movieId": arr[:, 1]}))
        return np.asarray(out["rating"], dtype=np.float64)
