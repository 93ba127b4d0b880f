"""The build's engines behind the one pipeline (build/pipeline.py): in-process (the default) and Spark."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from latentlens.build.engines.engine import Engine


def engine_named(name: str, spark_master: str | None = None) -> Engine:
    """The engine `--engine NAME` names; Spark's modules are imported only when it is asked for."""
    if name == "spark":
        from latentlens.build.engines.spark.engine import SparkEngine
        from latentlens.build.engines.spark.settings import SparkSettings

        return SparkEngine(SparkSettings() if spark_master is None else SparkSettings(master=spark_master))
    if name != "inprocess":
        raise ValueError(f"engine must be 'inprocess' or 'spark', not {name!r}")
    from latentlens.build.engines.inprocess import InProcessEngine

    return InProcessEngine()
