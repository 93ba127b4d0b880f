"""What a build shows people: the comparison as a text or Markdown table, and the end summary."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

    from latentlens.build.pipeline import BuildResult


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "|".join(map(str, value))
    return str(value)


def format_table(columns: list[str], rows: list[tuple]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    footer = f"({len(rows)} row{'s' if len(rows) != 1 else ''})"
    return "\n".join([line, rule, *body, footer])


def markdown_table(frame: pl.DataFrame) -> str:
    def cell(v: object) -> str:
        return "" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.rows()]
    return "\n".join([head, rule, *body]) + "\n"


def summary_text(result: BuildResult, command: str = "latentlens", out_shown: str | None = None,
                 mlflow_uri_shown: str | None = None) -> str:
    """The comparison and where everything went; `command` is how this shell runs latentlens
    (the CLI passes the venv's script when it is not on PATH), so the commands work as shown."""
    table = format_table(list(result.comparison.columns), result.comparison.rows())
    out = shlex.quote(out_shown or str(result.artifact.path))
    ui_args = f" --mlflow-uri {shlex.quote(mlflow_uri_shown)}" if mlflow_uri_shown else ""
    return "\n".join([
        f"Model comparison ({result.caption})",
        table,
        "",
        f"top-N champion:  {result.topn_champion}",
        f"rating champion: {result.rating_champion}",
        f"artifact:        {result.artifact.path} ({result.artifact.size_bytes / 1e6:.1f} MB, "
        f"sha256 {result.artifact.sha256[:16]}…)",
        f"MLflow run:      {result.run_id} in {result.tracking_uri}",
        f"registered:      {result.registered_model or '-'}",
        f"build time:      {result.seconds:.1f} s",
        "",
        "Next:",
        f"  serve it:   {command} serve --db {out}",
        f"  query it:   {command} query {out} 'SELECT * FROM build_info'",
        f"  MLflow UI:  {command} mlflow-ui{ui_args}   (experiment {result.experiment_id}, "
        "opens as a machine-learning experiment)",
    ])
