"""One real SparkSession (local[2], UI off, few shuffle partitions) for the whole test run, and one
quick Spark build of the embedded data shared by the tests that read its outputs."""

from __future__ import annotations

import importlib.machinery
import sys

import pytest

from latentlens.build.engines.spark.settings import SparkSettings
from tests.conftest import EMBEDDED

TEST_SPARK = SparkSettings(master="local[2]", shuffle_partitions=4, driver_memory="2g", n_shards=8, item_block=512)


def give_main_a_spec() -> None:
    """pytest-xdist's workers run `python -c`, whose __main__ has neither __spec__ nor __file__: pyspark.sql.connect
    (which mlflow.spark.log_model imports) takes that for a doctest run and calls sys.exit(0) on import. A real
    `latentlens build` runs from a console script, whose __main__ is a proper module. A spec named __main__ is what
    `python -m` gives; multiprocessing's spawn then re-imports nothing for it (a made-up __file__ would send every
    spawned child after a file that is not there, and a Pool would replace its dying workers for ever)."""
    main = sys.modules["__main__"]
    if getattr(main, "__spec__", None) is None and not hasattr(main, "__file__"):
        main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)


@pytest.fixture(scope="session")
def spark():
    from latentlens.build.engines.spark.session import spark_session

    give_main_a_spec()

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
