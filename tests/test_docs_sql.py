"""Every SQL query of the documentation's "Query it with SQL" page (docs/sql.md) runs against a real build."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "sql.md"


def page_queries() -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    assert text.startswith("# Query it with SQL\n"), "docs/sql.md is the SQL page"
    return re.findall(r"```sql\n(.*?)```", text, flags=re.S)


def test_the_page_has_at_least_five_queries() -> None:
    assert len(page_queries()) >= 5


@pytest.mark.parametrize("sql", page_queries(), ids=lambda q: q.splitlines()[0][:40])
def test_page_query_returns_rows(embedded_build, sql: str) -> None:
    settings, _ = embedded_build
    con = duckdb.connect(str(settings.out), read_only=True)
    try:
        rows = con.execute(sql).fetchall()
    finally:
        con.close()
    assert rows, sql


def test_godfather_query_finds_part_ii(embedded_build) -> None:
    settings, _ = embedded_build
    sql = next(q for q in page_queries() if "Godfather" in q)
    con = duckdb.connect(str(settings.out), read_only=True)
    titles = [r[1] for r in con.execute(sql).fetchall()]
    con.close()
    assert "Godfather: Part II, The (1974)" in titles[:5]


def test_winner_query_names_the_champion(embedded_build) -> None:
    settings, result = embedded_build
    sql = next(q for q in page_queries() if "ndcg_at_10" in q)
    con = duckdb.connect(str(settings.out), read_only=True)
    first = con.execute(sql).fetchone()
    con.close()
    assert first[0] == result.topn_champion


def test_latentlens_query_and_duckdb_cli_open_the_artifact(embedded_build) -> None:
    settings, _ = embedded_build
    sql = "SELECT count(*) AS n FROM movies"
    out = subprocess.run([sys.executable, "-m", "latentlens", "query", str(settings.out), sql,
                          "--format", "csv"], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["n", "9742"]
    cli = shutil.which("duckdb", path=str(Path(sys.executable).parent))
    assert cli, "the duckdb CLI (duckdb-cli test dependency) is not installed in the venv"
    shown = subprocess.run([cli, "-readonly", "-csv", str(settings.out), "-c", sql],
                           capture_output=True, text=True, check=True).stdout
    assert shown.split() == ["n", "9742"]
