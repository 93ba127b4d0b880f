"""The CLI explains itself: a description for every command, a help text (with its default) for every
option, `--version`, and one line plus exit 2 for every user mistake, never a traceback."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import latentlens.build
from latentlens.cli import main, parser
from latentlens.cli.commands import shown_command
from tests.handler.fixture_artifact import build_fixture_artifact

REPO = Path(__file__).resolve().parents[1]


def all_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    found, todo = [], [("latentlens", parser())]
    while todo:
        name, p = todo.pop()
        found.append((name, p))
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo += [(f"{name} {sub}", child) for sub, child in action.choices.items()]
    return found


def test_every_command_has_a_real_description() -> None:
    parsers = dict(all_parsers())
    assert set(parsers) >= {"latentlens", "latentlens build", "latentlens serve", "latentlens query",
                            "latentlens mlflow-ui", "latentlens data", "latentlens data info", "latentlens data synth"}
    for name, p in parsers.items():
        assert p.description and len(p.description) > 40, name
        assert "Parses arguments" not in p.description, name


def test_every_option_has_help_and_shows_its_default() -> None:
    for name, p in all_parsers():
        formatter = p._get_formatter()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction | argparse._VersionAction):
                continue
            label = action.option_strings[0] if action.option_strings else action.dest
            assert action.help, f"{name} {label}: no help text"
            if action.default not in (None, False):
                shown = formatter._expand_help(action)  # the help line as --help prints it, before wrapping
                assert "default" in shown and str(action.default) in shown, f"{name} {label}: default not shown"


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"latentlens {latentlens.build.__version__}"


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    return build_fixture_artifact(tmp_path_factory.mktemp("cli-artifact") / "latentlens.duckdb")


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    previous = signal.getsignal(signal.SIGTERM)  # `build` installs its own handler
    try:
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    finally:
        signal.signal(signal.SIGTERM, previous)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


MISTAKES = {
    "synth-unknown-preset": ["data", "synth", "{tmp}/synth", "--preset", "huge"],
    "synth-negative-seed": ["data", "synth", "{tmp}/synth", "--seed", "-1"],
    "synth-out-exists": ["data", "synth", "{tmp}", "--preset", "small"],
    "info-missing-dir": ["data", "info", "{tmp}/nowhere"],
    "query-not-duckdb": ["query", "README.md", "SELECT 1"],
    "query-a-directory": ["query", "{tmp}", "SELECT 1"],
    "query-missing-file": ["query", "{tmp}/absent.duckdb", "SELECT 1"],
    "query-bad-sql": ["query", "{artifact}", "SELEC 1"],
    "query-empty-sql": ["query", "{artifact}", " "],
    "query-writes": ["query", "{artifact}", "DROP TABLE movies"],
    "query-unknown-format": ["query", "{artifact}", "SELECT 1", "--format", "xml"],
    "build-unknown-model": ["build", "--models", "nope", "--out", "{tmp}/a.duckdb"],
    "build-folds-1": ["build", "--folds", "1"],
    "build-top-n-0": ["build", "--top-n", "0"],
    "build-negative-seed": ["build", "--seed", "-1"],
    "build-eval-users-text": ["build", "--eval-users", "many"],
    "build-missing-data": ["build", "--data", "{tmp}/nowhere", "--out", "{tmp}/a.duckdb",
                           "--mlflow-uri", "sqlite:///{tmp}/mlflow.db"],
    "build-unknown-mlflow-scheme": ["build", "--mlflow-uri", "bogus://x", "--out", "{tmp}/a.duckdb"],
    "mlflow-ui-bad-port": ["mlflow-ui", "--port", "70000"],
    "mlflow-ui-unknown-scheme": ["mlflow-ui", "--mlflow-uri", "sqlit:///x.db"],
    "unknown-command": ["bogus"],
    "no-command": [],
}


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_user_mistakes_are_one_line_and_exit_2(case, tmp_path, artifact, capsys, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("LATENTLENS_TMP_DIR", str(tmp_path / "lltmp"))  # DuckDB's scratch of `query`
    argv = [a.format(tmp=tmp_path, artifact=artifact) for a in MISTAKES[case]]
    code, out, err = run_cli(argv, capsys)
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], err
    assert "Traceback" not in err and not out
    assert not (tmp_path / "synth").exists() and not (tmp_path / "a.duckdb").exists()


def test_query_csv_writes_lists_users_can_parse(artifact, capsys) -> None:
    code, out, _ = run_cli(["query", str(artifact), "SELECT movie_id, genres FROM movies WHERE movie_id IN (1, 2571) "
                            "ORDER BY movie_id", "--format", "csv"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["genres"].split("|") for r in rows] == [["Adventure", "Animation", "Children", "Comedy", "Fantasy"],
                                                      ["Action", "Sci-Fi", "Thriller"]]
    code, out, _ = run_cli(["query", str(artifact), "SELECT genres FROM movies WHERE movie_id = 1", "--format", "json"],
                           capsys)
    assert json.loads(out) == [{"genres": ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]}]


# What Lens.sql refuses (tests/reliability/test_hostile_inputs.py) and `latentlens query` let through before it ran on
# the API's connection (latentlens.handler.artifact.connect): writing a file, reading one, reaching for the network.
ESCAPES = {
    "copy-to-a-file": "COPY movies TO '{tmp}/pwn.csv'",
    "read-etc-passwd": "SELECT * FROM read_csv('/etc/passwd')",
    "install-an-extension": "INSTALL httpfs",
}


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_query_is_sandboxed_like_lens_sql_one_line_and_exit_2(case, tmp_path, artifact, capsys, monkeypatch) -> None:
    monkeypatch.setenv("LATENTLENS_TMP_DIR", str(tmp_path / "lltmp"))
    code, out, err = run_cli(["query", str(artifact), ESCAPES[case].format(tmp=tmp_path)], capsys)
    assert (code, out) == (2, ""), (code, out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    # refused by the sandbox (a Permission Error), not by a failed download or a missing file
    assert err.startswith(f"latentlens: error: {artifact}: query failed: Permission Error: "), err
    assert err.endswith("(latentlens query reads the artifact only: no other file, extension or network)\n"), err
    assert "root:" not in err
    assert not (tmp_path / "pwn.csv").exists()
    assert [p.name for p in (tmp_path / "lltmp").rglob("*") if p.is_file()] == []  # no extension was fetched


def test_query_runs_on_the_connection_lens_sql_runs_on(tmp_path, artifact, capsys, monkeypatch) -> None:
    """The sandbox has one owner: `latentlens query` reads DuckDB's settings on the connection the API opens."""
    from latentlens.handler.artifact import connect
    from latentlens.handler.settings import Settings

    monkeypatch.setenv("LATENTLENS_TMP_DIR", str(tmp_path / "lltmp"))
    names = ["enable_external_access", "autoinstall_known_extensions", "autoload_known_extensions", "temp_directory",
             "home_directory", "threads", "memory_limit", "access_mode"]
    sql = "SELECT " + ", ".join(f"current_setting('{name}') AS {name}" for name in names)
    code, out, err = run_cli(["query", str(artifact), sql, "--format", "json"], capsys)
    assert code == 0, err
    shown = json.loads(out)[0]
    con = connect(str(artifact), Settings())
    try:
        expected = dict(zip(names, con.execute(sql).fetchone(), strict=True))
    finally:
        con.close()
    assert shown == expected
    assert shown["enable_external_access"] is False and shown["access_mode"] == "read_only"
    assert shown["temp_directory"] == str(tmp_path / "lltmp" / "duckdb-tmp")


def test_query_with_a_bad_latentlens_variable_is_one_line_naming_it(tmp_path, artifact, capsys, monkeypatch) -> None:
    monkeypatch.setenv("LATENTLENS_DUCKDB_THREADS", "many")
    code, out, err = run_cli(["query", str(artifact), "SELECT 1"], capsys)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith(f"latentlens: error: {artifact}: LATENTLENS_DUCKDB_THREADS: "), err


def test_commands_shown_after_a_build_work_as_shown(tmp_path, artifact) -> None:
    """Without the venv on PATH the summary names the venv's script; that exact command runs."""
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    script = "from latentlens.cli.commands import shown_command; print(shown_command())"
    shown = subprocess.run([sys.executable, "-c", script],
                           cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert shown != "latentlens" and shown.endswith("latentlens")
    done = subprocess.run(f"{shown} query {artifact} 'SELECT count(*) AS n FROM movies' --format csv", shell=True,
                          cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.splitlines() == ["n", "9"], done.stderr
    venv_bin = str(Path(sys.executable).parent)
    on_path = {**os.environ, "PATH": f"{venv_bin}:/usr/bin:/bin"}
    assert subprocess.run([sys.executable, "-c", script],
                          cwd=REPO, env=on_path, capture_output=True, text=True).stdout.strip() == "latentlens"


def test_build_summary_prints_runnable_next_steps(embedded_build) -> None:
    settings, result = embedded_build
    text = result.summary_text(command=shown_command(), out_shown=str(settings.out),
                               mlflow_uri_shown=settings.mlflow_uri)
    assert f"{shown_command()} serve --db {settings.out}" in text
    assert f"{shown_command()} mlflow-ui --mlflow-uri {settings.mlflow_uri}" in text



def test_build_summary_marks_the_champions_and_shows_no_null(embedded_build) -> None:
    _, result = embedded_build
    lines = result.comparison_text().splitlines()
    header, body = lines[0].split(), [line.split() for line in lines[2:-1]]
    assert header[:2] == ["champion", "model"] and "NULL" not in result.summary_text()
    marked = {row[1]: row[0] for row in body if row[0].startswith("*")}
    expected: dict[str, list[str]] = {}
    for role, name in (("top-N", result.topn_champion), ("rating", result.rating_champion)):
        expected.setdefault(name, []).append(role)
    assert marked == {name: "*" + ",".join(roles) for name, roles in expected.items()}, lines
    unmarked = [row for row in body if not row[0].startswith("*")]
    assert unmarked and all(len(row) == len(header) - 1 for row in unmarked)  # an empty first cell
    popularity = next(row for row in body if row[0] == "popularity")
    assert popularity[header.index("rmse") - 1] == "-"  # a top-N model has no RMSE
