"""`latentlens query`: read-only SQL against an artifact, printed as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb

from latentlens.build.data.errors import DataError


def run_query(db: Path | str, sql: str, fmt: str = "table", max_rows: int = 1000) -> str:
    db = Path(db)
    if not db.exists():
        raise DataError(db, "artifact not found (run `latentlens build` first)")
    con = duckdb.connect(str(db), read_only=True)
    try:
        try:
            cursor = con.execute(sql)
        except duckdb.Error as exc:
            raise DataError(db, f"query failed: {exc}") from exc
        columns = [d[0] for d in cursor.description] if cursor.description else []
        rows = cursor.fetchmany(max_rows)
    finally:
        con.close()
    if fmt == "json":
        return json.dumps([dict(zip(columns, r)) for r in rows], default=str, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    return format_table(columns, rows)


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
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    footer = f"({len(rows)} row{'s' if len(rows) != 1 else ''})"
    return "\n".join([line, rule, *body, footer])
