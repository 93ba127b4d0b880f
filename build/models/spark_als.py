"""The Spark-only models: Spark ML's ALS, explicit and implicit. Their implementations live with the
Spark engine (build/engines/spark/implementations.py), imported only when that engine runs; an
in-process build reports them as skipped."""

from __future__ import annotations

from latentlens.build.models.spec import SPARK_IMPLEMENTATIONS, ModelSpec

ALS_EXPLICIT = ModelSpec("als_explicit", None, rating=True, linear_fit=True,
                         description="Spark ML ALS on the ratings, tuned on validation RMSE",
                         implementations={"spark": f"{SPARK_IMPLEMENTATIONS}:ALS_EXPLICIT"})
ALS_IMPLICIT = ModelSpec("als_implicit", None, linear_fit=True,
                         description="Spark ML implicit ALS (confidence 1 + alpha rating), tuned on validation NDCG",
                         implementations={"spark": f"{SPARK_IMPLEMENTATIONS}:ALS_IMPLICIT"})
