"""`latentlens query`: read-only SQL against an artifact, printed as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb

from latentlens.build.data.errors import DataError
from latentlens.build.report import QUERY_FORMATS, format_table


def _first_line(exc: Exception) -> str:
    """DuckDB's message without the caret drawing and context lines that follow it."""
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


def run_query(db: Path | str, sql: str, fmt: str = QUERY_FORMATS[0], max_rows: int = 1000) -> str:
    db = Path(db)
    if not db.exists():
        raise DataError(db, "artifact not found (run `latentlens build` first)")
    if not db.is_file():
        raise DataError(db, "not a file (name the .duckdb artifact, e.g. artifacts/latentlens.duckdb)")
    if not sql.strip():
        raise DataError(db, "empty SQL statement")
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        if "not a valid DuckDB database file" in str(exc):
            raise DataError(db, "not a DuckDB file (name the artifact `latentlens build` wrote)") from None
        raise DataError(db, f"cannot open: {_first_line(exc)}") from None
    try:
        try:
            cursor = con.execute(sql)
        except duckdb.Error as exc:
            raise DataError(db, f"query failed: {_first_line(exc)}") from None
        columns = [d[0] for d in cursor.description] if cursor.description else []
        rows = cursor.fetchmany(max_rows)
    finally:
        con.close()
    if fmt == "json":
        return json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_csv_cell(v) for v in row] for row in rows])
        return buf.getvalue().rstrip("\n")
    return format_table(columns, rows)


def _csv_cell(value: object) -> object:
    """Lists |-joined like MovieLens' own genres column; maps and structs as JSON; NULL as empty."""
    if isinstance(value, list | tuple):
        return "|".join("" if v is None else str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return value
