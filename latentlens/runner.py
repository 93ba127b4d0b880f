"""`latentlens.run_build(...)`: a build from code, with the typed settings the CLI makes.

Named `run_build`, not `build`: `latentlens.build` is the pipeline's subpackage (the `build/` folder),
and a function of that name on the package would either hide it (`latentlens.build.settings` would
fail) or be replaced by it as soon as anything imports a module of the pipeline.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from latentlens.build.result import BuildResult
    from latentlens.build.settings import BuildSettings, Engine


def run_build(settings: BuildSettings | None = None, /, *, engine: Engine = "inprocess",
              spark_master: str | None = None, **fields: Any) -> BuildResult:
    """Run `latentlens build` in this process and return its BuildResult (the comparison table as a polars
    DataFrame, the champions, the artifact's path and sha256, the MLflow run id).

    `settings` is a latentlens.build.settings.BuildSettings (defaults as the CLI's: the embedded data,
    artifacts/latentlens.duckdb, ./mlflow.db); keyword `fields` replace its fields, e.g.
    `run_build(data_dir="data/ml-latest-small", out="/tmp/x.duckdb", quick=True)` (an unknown field is a
    TypeError). Bad settings or data raise before anything is written (SettingsError, DataError: both
    ValueErrors). Progress is logged to the `latentlens` logger: `logging.basicConfig(level="INFO")` shows it;
    progress bars on stderr follow the `progress` field (default: on when stderr is a terminal).
    `engine="spark"` runs the same build on Apache Spark (the `spark` extra and Java 17+; `spark_master`:
    SparkSettings' default unless given); its BuildResult also names the Parquet output."""
    from latentlens.build.settings import BuildSettings, check_tracking_uri

    chosen = settings if settings is not None else BuildSettings()
    for name in ("data_dir", "out"):
        if name in fields and not isinstance(fields[name], Path):
            fields[name] = Path(fields[name])
    if fields:
        chosen = replace(chosen, **fields)
    check_tracking_uri(chosen.mlflow_uri)
    from latentlens.build.engines import engine_named
    from latentlens.build.pipeline import run

    return run(chosen, engine_named(engine, spark_master))
