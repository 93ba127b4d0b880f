"""Tables as a build shows them to people: text (the CLI, `latentlens query`) or Markdown (MLflow).

A leaf: the end summary of a build is `BuildResult.summary_text` (build/pipeline.py), which uses these."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl


# `latentlens query --format`: the first is the default (build/export/query.py, the CLI)
QUERY_FORMATS = ("table", "csv", "json")


def _cell(value: object, missing: str = "NULL") -> str:
    if value is None:
        return missing
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "|".join(map(str, value))
    return str(value)


def format_table(columns: list[str], rows: list[tuple], missing: str = "NULL") -> str:
    """An aligned text table; `missing` shows a None (SQL's NULL for `latentlens query`)."""
    cells = [[_cell(v, missing) for v in row] for row in rows]
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
