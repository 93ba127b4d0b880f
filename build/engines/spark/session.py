"""Start (or join) the one SparkSession of a build, with settings fit for the master it runs on."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from latentlens.build.engines.spark.settings import SparkSettings
from latentlens.build.settings import SettingsError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def spark_session(settings: SparkSettings) -> SparkSession:
    """getOrCreate: a test run (or a notebook) that already holds a session keeps using it."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SettingsError("--engine spark needs pyspark: pip install 'latentlens[spark]' "
                            "(and Java 17+ on PATH)") from exc
    # Executors (Python workers) use this interpreter, so they see the same packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(settings.master).appName("latentlens-build")
        .config("spark.ui.enabled", str(settings.ui).lower())
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.default.parallelism", str(settings.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # s3a: credentials from the usual AWS chain (env, profile, instance role); needs
        # hadoop-aws on the classpath (docs/spark.md).
        .config("spark.hadoop.fs.s3a.aws.credentials.provider",
                "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider")
    )
    if settings.master.startswith("local"):
        # one JVM holds driver and executors; never listen beyond loopback
        builder = (builder.config("spark.driver.memory", settings.driver_memory)
                   .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1"))
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # no Java, wrong Java: say so instead of a py4j traceback
        raise SettingsError(f"cannot start Spark ({settings.master}): {str(exc).splitlines()[0]} "
                            "(Java 17+ must be on PATH: `java -version`)") from exc
    spark.sparkContext.setLogLevel("WARN")
    return spark
