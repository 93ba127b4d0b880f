"""One real SparkSession (local[2], UI off, few shuffle partitions) for the whole test run, and one
quick Spark build of the embedded data shared by the tests that read its outputs."""

from __future__ import annotations

import sys

import pytest

from latentlens.build.engines.spark.settings import SparkSettings
from tests.conftest import EMBEDDED

TEST_SPARK = SparkSettings(master="local[2]", shuffle_partitions=4, driver_memory="2g", n_shards=8, item_block=512)


def give_main_a_file() -> None:
    """pytest-xdist's workers run `python -c`, whose __main__ has neither __spec__ nor __file__: pyspark.sql.connect
    (which mlflow.spark.log_model imports) takes that for a doctest run and calls sys.exit(0) on import. A real
    `latentlens build` runs from a console script, whose __main__ has a file; so does a worker from here on."""
    main = sys.modules["__main__"]
    if getattr(main, "__spec__", None) is None and not hasattr(main, "__file__"):
        main.__file__ = "<pytest-xdist worker>"


@pytest.fixture(scope="session")
def spark():
    from latentlens.build.engines.spark.session import spark_session

    give_main_a_file()

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
