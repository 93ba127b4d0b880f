"""What a build returns, whichever engine ran it, and the summary the CLI prints."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from latentlens.build.export.artifact import ArtifactReport
from latentlens.build.report import format_table


@dataclass(frozen=True)
class BuildResult:
    artifact: ArtifactReport | None    # None: past the DuckDB budget (the Spark engine's Parquet output only)
    comparison: pl.DataFrame
    topn_champion: str | None
    rating_champion: str | None
    run_id: str
    tracking_uri: str
    seconds: float
    registered_model: str | None
    experiment_id: str = ""
    caption: str = "top-N: temporal holdout; rating: k-fold CV"
    engine: str = "inprocess"
    parquet: Path | None = None        # the Spark engine's sharded output
    manifest: dict | None = None       # its manifest: rows per table, shards

    def summary_text(self, command: str = "latentlens", out_shown: str | None = None,
                     mlflow_uri_shown: str | None = None) -> str:
        """The comparison and where everything went; `command` is how this shell runs latentlens
        (the CLI passes the venv's script when it is not on PATH), so the commands work as shown."""
        lines = [f"Model comparison ({self.caption}; * champion, - not measured for that model)",
                 self.comparison_text(), "",
                 f"top-N champion:  {self.topn_champion}",
                 f"rating champion: {self.rating_champion}",
                 f"artifact:        {self._artifact_text()}"]
        if self.parquet is not None and self.manifest is not None:
            rows = ", ".join(f"{k} {v}" for k, v in self.manifest["rows"].items())
            lines.append(f"parquet:         {self.parquet} ({rows})")
        lines += [f"MLflow run:      {self.run_id} in {self.tracking_uri}",
                  f"registered:      {self.registered_model or '-'}",
                  f"build time:      {self.seconds:.1f} s"]
        if self.artifact is None:
            return "\n".join(lines)
        out = shlex.quote(out_shown or str(self.artifact.path))
        ui_args = f" --mlflow-uri {shlex.quote(mlflow_uri_shown)}" if mlflow_uri_shown else ""
        return "\n".join([
            *lines, "", "Next:",
            f"  serve it:   {command} serve --db {out}",
            f"  query it:   {command} query {out} 'SELECT * FROM build_info'",
            f"  MLflow UI:  {command} mlflow-ui{ui_args}   (experiment {self.experiment_id}, "
            "opens as a machine-learning experiment)",
        ])

    def comparison_text(self) -> str:
        """The comparison as the build prints it (comparison_text below)."""
        return comparison_text(self.comparison, self.topn_champion, self.rating_champion)

    def _artifact_text(self) -> str:
        if self.artifact is None:
            return "- (past the DuckDB budget: Parquet only)"
        return (f"{self.artifact.path} ({self.artifact.size_bytes / 1e6:.1f} MB, "
                f"sha256 {self.artifact.sha256[:16]}…)")


def comparison_text(comparison: pl.DataFrame, topn_champion: str | None, rating_champion: str | None) -> str:
    """A comparison table (BuildResult.comparison, or the comparison.csv the build logs to MLflow) as the build
    prints it: champions marked in the first column, a metric a model has no figure for (RMSE of a top-N-only
    model) shown as "-"."""
    roles: dict[str, list[str]] = {name: [] for name in comparison["model"]} if "model" in comparison.columns else {}
    for role, name in (("top-N", topn_champion), ("rating", rating_champion)):
        if name in roles:
            roles[name].append(role)
    marks = [("*" + ",".join(roles[name])) if roles.get(name) else "" for name in roles]
    rows = [(mark, *row) for mark, row in zip(marks, comparison.rows(), strict=True)] if roles else comparison.rows()
    columns = ["champion", *comparison.columns] if roles else list(comparison.columns)
    return format_table(columns, rows, missing="-")
