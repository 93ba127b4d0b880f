"""One real SparkSession (local[2], UI off, few shuffle partitions) for the whole test run, and one
quick Spark build of the embedded data shared by the tests that read its outputs."""

from __future__ import annotations

import pytest

from latentlens.build.engines.spark.settings import SparkSettings
from tests.conftest import EMBEDDED

TEST_SPARK = SparkSettings(master="local[2]", shuffle_partitions=4, driver_memory="2g", n_shards=8, item_block=512)


@pytest.fixture(scope="session")
def spark():
    from latentlens.build.engines.spark.session import spark_session

    session = spark_session(TEST_SPARK)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_build(spark, tmp_path_factory: pytest.TempPathFactory):
    """`latentlens build --engine spark --quick` on ml-latest-small, with a real sqlite MLflow store."""
    from latentlens.build.engines.spark.engine import SparkEngine
    from latentlens.build.pipeline import run
    from latentlens.build.settings import BuildSettings

    root = tmp_path_factory.mktemp("spark-build")
    settings = BuildSettings(data_dir=EMBEDDED, out=root / "latentlens.duckdb",
                             mlflow_uri=f"sqlite:///{root / 'mlflow.db'}", quick=True)
    return settings, run(settings, SparkEngine(TEST_SPARK, spark))
