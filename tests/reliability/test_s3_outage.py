"""S3 unreachable or slow at cold start: a bounded number of attempts (botocore's standard retry
mode, with its backoff), then a JSON 503; when S3 and a good artifact are back, it serves again.

Attempts are counted, not timed: every HTTP attempt the handler's S3 client makes is seen by a
botocore `before-send` hook, and the slow S3 is a loopback socket that counts the connections it
accepts and never answers.
"""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer

import latentlens.handler.s3
from latentlens.handler import schema
from tests.reliability.conftest import free_port

BUCKET = "latentlens-artifacts"
KEY = "builds/abc/latentlens.duckdb"
URI = f"s3://{BUCKET}/{KEY}"


pytestmark = [pytest.mark.usefixtures("fake_aws_credentials"), pytest.mark.server]


@pytest.fixture
def attempts(monkeypatch) -> list[str]:
    """Every HTTP request the handler's S3 clients send (retries included), by URL."""
    seen: list[str] = []
    real = latentlens.handler.s3.s3_client

    def counting_client(settings):
        client = real(settings)
        client.meta.events.register("before-send.s3", lambda request, **_: seen.append(request.url))
        return client

    monkeypatch.setattr(latentlens.handler.s3, "s3_client", counting_client)
    return seen


def start_moto(port: int) -> ThreadedMotoServer:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


def upload(endpoint: str, artifact: Path) -> None:
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=artifact.read_bytes())
    s3.put_object(Bucket=BUCKET, Key=schema.manifest_path(KEY),
                  Body=Path(schema.manifest_path(str(artifact))).read_bytes())


def container(app_for, tmp: Path, endpoint: str, **overrides) -> TestClient:
    """A cold container: its own app and an empty /tmp, so nothing is cached from an earlier one."""
    tmp.mkdir(parents=True, exist_ok=True)
    app = app_for(URI, s3_endpoint_url=endpoint, s3_region="us-east-1", tmp_dir=str(tmp / "lltmp"), **overrides)
    return TestClient(app, raise_server_exceptions=False)


def assert_s3_unavailable(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 503 and r.json()["error"]["code"] == "s3_unavailable", r.json()
    for path in ("/movies/858", "/users/1/recommendations", "/popular"):
        r = client.get(path)
        assert r.status_code == 503 and set(r.json()) == {"error"}, (path, r.text)
        assert r.json()["error"]["code"] == "s3_unavailable"


def test_moto_stopped_at_cold_start_is_bounded_retries_then_503_and_serves_when_back(artifact, tmp_path, app_for,
                                                                                    attempts):
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = start_moto(port)
    upload(endpoint, artifact)
    warm = container(app_for, tmp_path / "c1", endpoint)
    assert warm.get("/health").status_code == 200
    moto.stop()

    attempts.clear()
    cold = container(app_for, tmp_path / "c2", endpoint, s3_max_attempts=3, s3_connect_timeout_s=0.5)
    r = cold.get("/health")
    assert r.status_code == 503 and r.json()["error"]["code"] == "s3_unavailable"
    assert len(attempts) == 3 and all(u.endswith(schema.manifest_path(KEY)) for u in attempts), attempts
    assert_s3_unavailable(cold)  # each request retries the open (retry_interval_s=0), each bounded the same way
    assert warm.get("/movies/858").status_code == 200  # a container that already has the artifact is unaffected

    moto = start_moto(port)  # S3 back (an empty moto: the artifact is published again)
    try:
        upload(endpoint, artifact)
        assert cold.get("/health").status_code == 200  # the same container recovers on its next try
        nxt = container(app_for, tmp_path / "c3", endpoint)
        assert nxt.get("/health").status_code == 200
        assert nxt.get("/movies/858").json()["title"] == "Godfather, The (1972)"
    finally:
        moto.stop()


class Blackhole:
    """A loopback TCP server that accepts connections, counts them, reads and never answers: a hung S3."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.endpoint = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            self.conns.append(conn)  # held open, never answered

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self.conns:
            conn.close()
        self.sock.close()


def test_slow_s3_at_cold_start_is_bounded_attempts_then_503(tmp_path, app_for, attempts, caplog):
    caplog.set_level(logging.WARNING, logger="latentlens.handler")
    hole = Blackhole()
    try:
        client = container(app_for, tmp_path / "c", hole.endpoint, s3_max_attempts=3,
                           s3_connect_timeout_s=0.5, s3_read_timeout_s=0.3)
        r = client.get("/health")
        assert r.status_code == 503 and r.json() == {
            "status": "unavailable",
            "error": {"code": "s3_unavailable", "message": r.json()["error"]["message"]}}
        assert "ReadTimeout" not in r.text  # the detail is for the log, not the public
        assert any("ReadTimeout" in rec.getMessage() for rec in caplog.records)
        assert len(attempts) == 3, attempts
        assert hole.accepted == 3  # one fresh connection per attempt, none left hanging on
    finally:
        hole.close()


def test_every_attempt_at_a_hung_s3_ends_before_the_lambda_timeout():
    """Defaults: attempts x (the longer of connect and read timeout) + botocore's standard backoff
    (at most 2^(k-1) s before retry k) fit in the function's Timeout, so a hung S3 is our JSON 503."""
    from latentlens.handler.settings import Settings
    from tests.infra.cfn_yaml import load_template

    s = Settings()
    template = load_template(Path(__file__).resolve().parents[2] / "template.yaml")
    timeout = template["Globals"]["Function"].get("Timeout") or \
        template["Resources"]["LookupFunction"]["Properties"]["Timeout"]
    backoff = sum(2 ** (k - 1) for k in range(1, s.s3_max_attempts))
    worst = s.s3_max_attempts * max(s.s3_connect_timeout_s, s.s3_read_timeout_s) + backoff
    assert worst < int(timeout), f"a hung S3 takes up to {worst} s, the function times out at {timeout} s"


class TrickleS3:
    """A loopback S3 that serves the manifest at once and the artifact a few bytes at a time, each piece well
    inside the read timeout, so no single socket read ever times out; counts the bytes it got to send."""

    def __init__(self, artifact: Path, piece: int = 256, every_s: float = 0.05) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        data, manifest = artifact.read_bytes(), Path(schema.manifest_path(str(artifact))).read_bytes()
        self.total, self.sent, self.stop = len(data), 0, threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                body = manifest if self.path.split("?")[0].endswith(".sha256") else data
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "binary/octet-stream")
                self.end_headers()
                if body is manifest:
                    self.wfile.write(body)
                    return
                try:
                    for i in range(0, len(body), piece):
                        if outer.stop.wait(every_s):
                            return
                        self.wfile.write(body[i:i + piece])
                        self.wfile.flush()
                        outer.sent += len(body[i:i + piece])
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up: what we want

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.seconds_to_send_all = len(data) / piece * every_s
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


def test_a_trickling_download_hits_the_deadline_then_503_s3_unavailable(artifact, tmp_path, app_for, caplog):
    import time

    caplog.set_level(logging.WARNING, logger="latentlens.handler")
    s3 = TrickleS3(artifact)
    deadline, read_timeout = 1.5, 0.5
    try:
        assert s3.seconds_to_send_all > 20 * deadline  # without a deadline this would run for ~a minute
        client = container(app_for, tmp_path / "c", s3.endpoint, s3_deadline_s=deadline, s3_read_timeout_s=read_timeout,
                           s3_connect_timeout_s=0.5)
        started = time.monotonic()
        r = client.get("/health")
        took = time.monotonic() - started
        assert r.status_code == 503 and r.json()["error"]["code"] == "s3_unavailable", r.json()
        assert 0 < s3.sent < s3.total  # it was downloading, and stopped partway
        # the bound the deadline promises (deadline + one connect + one read), with slack for a loaded machine
        assert took < deadline + 0.5 + read_timeout + 3, took
        assert any("deadline" in rec.getMessage() for rec in caplog.records), \
            [rec.getMessage() for rec in caplog.records]
        assert not [p for p in (tmp_path / "c" / "lltmp").iterdir() if p.is_file()]  # no partial download kept
    finally:
        s3.close()


def test_the_whole_s3_fetch_ends_before_the_lambda_timeout():
    """Defaults: the fetch's deadline, plus the one attempt or read that may be in flight when it passes
    (connect + read timeout), plus a second to open the file, fit in the function's Timeout."""
    from latentlens.handler.settings import Settings
    from tests.infra.cfn_yaml import load_template

    s = Settings()
    template = load_template(Path(__file__).resolve().parents[2] / "template.yaml")
    timeout = template["Globals"]["Function"].get("Timeout") or \
        template["Resources"]["LookupFunction"]["Properties"]["Timeout"]
    worst = s.s3_deadline_s + s.s3_connect_timeout_s + s.s3_read_timeout_s + 1
    assert worst < int(timeout), f"an S3 fetch may take {worst} s, the function times out at {timeout} s"
