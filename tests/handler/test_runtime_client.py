"""The Lambda path for real, without Docker: `python -m awslambdaric latentlens.handler.app.handler` (what AWS's
Python images run) against a small Runtime API stub on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.handler.events import http_v2, rest_v1
from tests.handler.runtime_api import RuntimeApiStub, next_result

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def runtime(artifact, tmp_path):
    """Start the stub and the runtime client; yields the stub, then stops both."""
    procs: list[subprocess.Popen] = []
    stubs: list[RuntimeApiStub] = []

    def start(events: list[dict], db: Path = artifact) -> RuntimeApiStub:
        stub = RuntimeApiStub(events)
        threading.Thread(target=stub.serve_forever, daemon=True).start()
        env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{stub.server_address[1]}",
               "LATENTLENS_DB": str(db), "LATENTLENS_TMP_DIR": str(tmp_path / "lltmp"),
               "PYTHONPATH": str(REPO)}
        procs.append(subprocess.Popen([sys.executable, "-m", "awslambdaric", "latentlens.handler.app.handler"],
                                      cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        stubs.append(stub)
        return stub

    yield start
    for stub in stubs:
        stub.done.set()
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stub in stubs:
        stub.shutdown()
        stub.server_close()


def test_runtime_client_serves_api_gateway_events(runtime):
    stub = runtime([http_v2("/recommendations?liked=858"), rest_v1("/movies/858"), http_v2("/movies/5")])

    kind, request_id, response = next_result(stub)
    assert (kind, request_id) == ("response", "req-0")
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "application/json"
    assert "etag" in response["headers"]
    titles = [i["title"] for i in json.loads(response["body"])["items"]]
    assert "Godfather: Part II, The (1974)" in titles

    kind, request_id, response = next_result(stub)
    assert (kind, request_id, response["statusCode"]) == ("response", "req-1", 200)
    assert json.loads(response["body"])["movie_id"] == 858

    kind, request_id, response = next_result(stub)
    assert (kind, request_id, response["statusCode"]) == ("response", "req-2", 404)
    assert json.loads(response["body"])["error"]["code"] == "movie_not_found"


def test_runtime_client_with_missing_artifact_answers_503(runtime, tmp_path):
    stub = runtime([http_v2("/health")], db=tmp_path / "absent.duckdb")
    kind, _, response = next_result(stub)
    assert kind == "response" and response["statusCode"] == 503
    assert json.loads(response["body"])["error"]["code"] == "artifact_missing"


def test_runtime_client_answers_malformed_and_foreign_events_instead_of_an_invocation_error(runtime):
    """Before: Mangum raised, the runtime posted an invocation *error*, and API Gateway answered 502."""
    bad_v2 = http_v2("/health")
    bad_v2["headers"] = None
    no_method = rest_v1("/health")
    del no_method["httpMethod"]
    warmer = {"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events",
              "account": "123456789012", "time": "2026-12-01T00:00:00Z", "region": "us-east-1",
              "resources": [], "detail": {}}
    s3 = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {}}]}
    stub = runtime([{}, bad_v2, no_method, s3, warmer, http_v2("/movies/858")])
    for i, (status, code) in enumerate([(400, "unsupported_event"), (400, "bad_event"), (400, "bad_event"),
                                        (400, "unsupported_event")]):
        kind, request_id, response = next_result(stub)
        assert (kind, request_id, response["statusCode"]) == ("response", f"req-{i}", status), response
        assert json.loads(response["body"])["error"]["code"] == code
    kind, _, response = next_result(stub)
    assert kind == "response" and response["statusCode"] == 200 and json.loads(response["body"])["warmed"] is True
    kind, _, response = next_result(stub)  # and the container still serves
    assert kind == "response" and json.loads(response["body"])["movie_id"] == 858
