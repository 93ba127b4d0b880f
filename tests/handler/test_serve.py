"""`latentlens serve` really serves: a uvicorn subprocess on a free 127.0.0.1 port, its banner, its answers."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from latentlens.cli.serve import banner, base_url

REPO = Path(__file__).resolve().parents[2]


def test_banner_has_url_docs_and_curl_lines():
    text = banner("/data/a.duckdb", "0.0.0.0", 8123)
    assert "http://127.0.0.1:8123/docs" in text
    assert "curl -s 'http://127.0.0.1:8123/recommendations?liked=858,1213&n=10'" in text
    assert text.splitlines()[-1].startswith("Open http://127.0.0.1:8123/ in a browser")  # what `make run` ends with
    assert base_url("::", 80) == "http://[::1]:80" and base_url("localhost", 1) == "http://localhost:1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_runs_uvicorn_over_the_artifact(artifact, tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "LATENTLENS_TMP_DIR": str(tmp_path / "lltmp")}
    proc = subprocess.Popen([sys.executable, "-m", "latentlens", "serve", "--db", str(artifact),
                             "--port", str(port)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    seen = []
    try:
        while not any(line.startswith("Open http") for line in seen):
            try:
                seen.append(lines.get(timeout=30))
            except queue.Empty:
                raise AssertionError("no banner within 30 s:\n" + "".join(seen)) from None
        output = "".join(seen)
        assert f"curl -s 'http://127.0.0.1:{port}/health'" in output
        # what `make run` ends with: the banner comes after all of uvicorn's start lines, the page's line last
        banner_at = output.index("LatentLens API on")
        for started in ("Started server process", "Application startup complete", "Uvicorn running on"):
            assert output.index(started) < banner_at, output
        assert seen[-1].startswith(f"Open http://127.0.0.1:{port}/ in a browser")
        r = httpx.get(f"http://127.0.0.1:{port}/movies", params={"search": "the godfather"}, timeout=10)
        assert r.status_code == 200 and r.json()["items"][0]["movie_id"] == 858
        assert "etag" in r.headers
    finally:
        proc.terminate()
        proc.wait(timeout=10)
