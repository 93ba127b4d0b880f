"""`latentlens serve` as users start it: a missing artifact is a warning with the build command, a port
in use is one line and exit 2 before any banner, and a rebuild that replaces the file is served
without a restart. Real uvicorn subprocesses on 127.0.0.1."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.handler.fixture_artifact import MOVIES, build_fixture_artifact

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """`latentlens serve` in a subprocess, its merged output read line by line."""

    def __init__(self, args: list[str], tmp: Path, **env: str) -> None:
        full_env = {**os.environ, "PYTHONPATH": str(REPO), "LATENTLENS_TMP_DIR": str(tmp / "lltmp"), **env}
        self.proc = subprocess.Popen([sys.executable, "-m", "latentlens", "serve", *args],
                                     cwd=tmp, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.proc.stdout], daemon=True).start()

    def wait_for(self, text: str, timeout: float = 60) -> str:
        while not any(text in line for line in self.seen):
            try:
                self.seen.append(self.lines.get(timeout=timeout))
            except queue.Empty:
                raise AssertionError(f"no {text!r} within {timeout} s:\n" + "".join(self.seen)) from None
        return "".join(self.seen)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


@contextmanager
def serving(tmp_path: Path, path: str = "/movies/858") -> Iterator[tuple[Path, Served, str]]:
    """The fixture artifact served by `latentlens serve` (every request checks for a replacement), up:
    (artifact, server, the URL of `path`); stopped on the way out."""
    db = build_fixture_artifact(tmp_path / "latentlens.duckdb")
    port = free_port()
    served = Served(["--db", str(db), "--port", str(port), "--reload-check", "0"], tmp_path)
    try:
        served.wait_for("Uvicorn running on")
        yield db, served, f"http://127.0.0.1:{port}{path}"
    finally:
        served.stop()


def rebuilt_pair(tmp_path: Path, title: str) -> Path:
    """A rebuild of the fixture artifact with The Godfather renamed `title`, in tmp_path/next."""
    renamed = [(m[0], title, *m[2:]) if m[0] == 858 else m for m in MOVIES]
    (tmp_path / "next").mkdir()
    return build_fixture_artifact(tmp_path / "next" / "latentlens.duckdb", movies=renamed)


def replace_pair(new: Path, db: Path) -> None:
    os.replace(str(new) + ".sha256", str(db) + ".sha256")  # as a build publishes: the pair, renamed
    os.replace(new, db)


def test_serve_warns_at_start_when_the_artifact_is_missing(tmp_path) -> None:
    port = free_port()
    missing = tmp_path / "not-built.duckdb"
    served = Served(["--db", str(missing), "--port", str(port)], tmp_path)
    try:
        output = served.wait_for("in a browser")
        warning = next(line for line in output.splitlines() if "warning" in line)
        assert f"no artifact at {missing}" in warning and f"build --out {missing}" in warning
        assert output.index("warning") < output.index("LatentLens API on")
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 503
    finally:
        served.stop()


def test_serve_on_a_port_in_use_is_one_line_and_exit_2(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = Served(["--db", str(tmp_path / "a.duckdb"), "--port", str(port)], tmp_path)
        code = served.proc.wait(timeout=60)
        output = served.wait_for("error")
    assert code == 2
    assert output.strip().splitlines() == [
        f"latentlens: error: port {port} on 127.0.0.1 is already in use (another `latentlens serve`?); "
        "pick a free one with --port"]


def test_serve_picks_up_a_rebuild_that_replaces_the_artifact(tmp_path) -> None:
    with serving(tmp_path) as (db, served, url):
        before = httpx.get(url, timeout=10)
        assert before.status_code == 200 and before.json()["title"] == "Godfather, The (1972)"
        replace_pair(rebuilt_pair(tmp_path, "Godfather (rebuilt)"), db)
        noticed = httpx.get(url, timeout=10)  # sees the new file; answered by the old build while it reopens
        assert noticed.status_code == 200
        assert noticed.json()["title"] in {"Godfather, The (1972)", "Godfather (rebuilt)"}
        assert "was replaced" in served.wait_for("was replaced")
        served.wait_for("reopened")
        after = httpx.get(url, timeout=10)
        assert after.status_code == 200 and after.json()["title"] == "Godfather (rebuilt)"
        assert after.headers["etag"] != before.headers["etag"]


def test_serve_workers_answer_from_the_artifact_they_were_given(tmp_path, monkeypatch) -> None:
    """--workers 2: each spawned worker gets the settings from the serving process (none from LATENTLENS_DB,
    which is not set, and whose default names no artifact here)."""
    db = build_fixture_artifact(tmp_path / "given.duckdb")
    port = free_port()
    monkeypatch.delenv("LATENTLENS_DB", raising=False)
    served = Served(["--db", str(db), "--port", str(port), "--workers", "2"], tmp_path)
    try:
        served.wait_for("Application startup complete")
        answers = [httpx.get(f"http://127.0.0.1:{port}/movies/858", timeout=10) for _ in range(8)]
        assert {a.status_code for a in answers} == {200}
        assert {a.json()["title"] for a in answers} == {"Godfather, The (1972)"}
    finally:
        served.stop()
    assert served.wait_for("Stopping parent process").count("Started server process") == 2


@pytest.mark.parametrize("argv", [["--port", "0"], ["--port", "http"], ["--workers", "0"], ["--reload-check", "-1"]])
def test_serve_rejects_bad_options_in_one_line(argv, capsys) -> None:
    from latentlens.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["serve", *argv])
    assert exit_.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
