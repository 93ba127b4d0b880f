"""The champions as MLflow pyfuncs: the rating model ((userId, movieId) in, predicted rating out)
and the top-N model (userId in, the user's ranked list out, as the artifact stores it).

The fitted model travels pickled inside the MLflow model (with the `build` package as a
code path), so `mlflow.pyfunc.load_model` and `mlflow models serve` predict with exactly
what the build evaluated. Unknown ids fall back to the model's cold-start prediction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.pyfunc import PythonModel  # not mlflow.pyfunc.PythonModel: mlflow types `mlflow.pyfunc` as a LazyLoader
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from latentlens.build.interactions import Histories, Vocabulary
from latentlens.build.models.base import Recommender
from latentlens.build.models.capabilities import RatingPredictor

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("long", "userId"), ColSpec("long", "movieId")]),
    outputs=Schema([ColSpec("double", "rating")]),
)


def topn_signature(top_n: int) -> ModelSignature:
    """userId rows in; (userId, rank, movieId, score) rows out, `n` per user (a param, default the build's)."""
    return ModelSignature(
        inputs=Schema([ColSpec("long", "userId")]),
        outputs=Schema([ColSpec("long", "userId"), ColSpec("long", "rank"), ColSpec("long", "movieId"),
                        ColSpec("double", "score")]),
        params=ParamSchema([ParamSpec("n", "long", top_n)]),
    )


class RatingModel(PythonModel):
    def __init__(self, model: RatingPredictor, users: Vocabulary, items: Vocabulary) -> None:
        self.model = model
        self.users = users
        self.items = items

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        u = self.users.index(frame["userId"].to_numpy(dtype=np.int64))
        i = self.items.index(frame["movieId"].to_numpy(dtype=np.int64))
        return pd.DataFrame({"rating": np.asarray(self.model.predict(u, i), dtype=np.float64)})


class TopNModel(PythonModel):
    """The lists of the artifact's user_recommendations, reproduced from MLflow alone: the top-N
    champion scores each user's history (`histories`, the build's: every user's ratings) and ranks
    every movie they have not rated; an unknown user gets the model's cold-start list."""

    def __init__(self, model: Recommender, users: Vocabulary, items: Vocabulary, histories: Histories,
                 top_n: int) -> None:
        self.model = model
        self.users = users
        self.items = items
        self.histories = histories
        self.top_n = top_n

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        n = int((params or {}).get("n") or self.top_n)
        ids = pd.DataFrame(model_input)["userId"].to_numpy(dtype=np.int64)
        users = self.users.index(ids)
        idx, scores = self.model.recommend(users, self.histories.rows(users), n)
        keep = idx >= 0
        return pd.DataFrame({
            "userId": np.repeat(ids, n)[keep.ravel()],
            "rank": np.tile(np.arange(1, n + 1, dtype=np.int64), ids.shape[0])[keep.ravel()],
            "movieId": self.items.to_ids(idx[keep]).astype(np.int64),
            "score": scores[keep].astype(np.float64),
        })
