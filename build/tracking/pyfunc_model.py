"""The rating champion as an MLflow pyfunc: (userId, movieId) in, predicted rating out.

The fitted model travels pickled inside the MLflow model (with the `build` package as a
code path), so `mlflow.pyfunc.load_model` and `mlflow models serve` predict with exactly
what the build evaluated. Unknown ids fall back to the model's cold-start prediction.
"""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema

from latentlens.build.models.base import Recommender, Vocabulary

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("long", "userId"), ColSpec("long", "movieId")]),
    outputs=Schema([ColSpec("double", "rating")]),
)


class RatingModel(mlflow.pyfunc.PythonModel):
    def __init__(self, model: Recommender, users: Vocabulary, items: Vocabulary) -> None:
        self.model = model
        self.users = users
        self.items = items

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ARG002
        frame = pd.DataFrame(model_input)
        u = self.users.index(frame["userId"].to_numpy(dtype=np.int64))
        i = self.items.index(frame["movieId"].to_numpy(dtype=np.int64))
        return pd.DataFrame({"rating": np.asarray(self.model.predict(u, i), dtype=np.float64)})
