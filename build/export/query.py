"""`latentlens query`: read-only SQL against an artifact, printed as a table, CSV or JSON.

The connection is the API's own (latentlens.handler.artifact.connect), so the command has Lens.sql's sandbox:
read-only, and no other file, extension or network reachable from the SQL.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
from pydantic import ValidationError

from latentlens.build.data.errors import DataError
from latentlens.build.report import QUERY_FORMATS, format_table
from latentlens.handler.artifact import connect
from latentlens.handler.settings import Settings

SANDBOX_HINT = "latentlens query reads the artifact only: no other file, extension or network"


def _first_line(exc: Exception) -> str:
    """DuckDB's message without the caret drawing and context lines that follow it."""
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


def _failed(db: Path, exc: duckdb.Error) -> DataError:
    """A query DuckDB refused, as one line; the sandbox's refusals say why they are refusals."""
    hint = f" ({SANDBOX_HINT})" if isinstance(exc, duckdb.PermissionException) else ""
    return DataError(db, f"query failed: {_first_line(exc)}{hint}")


def _environment_settings(db: Path) -> Settings:
    """The handler's Settings from LATENTLENS_* (as `latentlens serve` reads them); a bad value is one line."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "LATENTLENS_" + "_".join(str(part) for part in first["loc"]).upper()
        raise DataError(db, f"{name}: {first['msg']}") from None


def run_query(db: Path | str, sql: str, fmt: str = QUERY_FORMATS[0], max_rows: int = 1000, *,
              settings: Settings | None = None) -> str:
    """One statement's first `max_rows` rows, formatted. `settings` (default: from LATENTLENS_* as `latentlens
    serve` reads them) give DuckDB's scratch directory, threads and memory limit."""
    db = Path(db)
    if not db.exists():
        raise DataError(db, "artifact not found (run `latentlens build` first)")
    if not db.is_file():
        raise DataError(db, "not a file (name the .duckdb artifact, e.g. artifacts/latentlens.duckdb)")
    if not sql.strip():
        raise DataError(db, "empty SQL statement")
    try:
        con = connect(str(db), settings or _environment_settings(db))
    except duckdb.Error as exc:
        if "not a valid DuckDB database file" in str(exc):
            raise DataError(db, "not a DuckDB file (name the artifact `latentlens build` wrote)") from None
        raise DataError(db, f"cannot open: {_first_line(exc)}") from None
    try:
        try:
            cursor = con.execute(sql)
            columns = [d[0] for d in cursor.description] if cursor.description else []
            rows = cursor.fetchmany(max_rows)  # DuckDB may fail here too (a cast on a later row)
        except duckdb.Error as exc:
            raise _failed(db, exc) from None
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
