"""`latentlens mlflow-ui` serves the build's real sqlite store on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


@pytest.mark.slow
def test_mlflow_ui_lists_the_build_and_its_registered_model(embedded_build) -> None:
    from mlflow.tracking import MlflowClient

    settings, result = embedded_build
    experiment_id = MlflowClient(settings.mlflow_uri).get_experiment_by_name(settings.experiment).experiment_id
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "latentlens.build.cli", "mlflow-ui", "--mlflow-uri", settings.mlflow_uri,
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # the UI's first start migrates nothing but imports a lot
        while _get(f"{base}/health")[0] != 200:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "MLflow UI did not come up"
            time.sleep(0.5)  # polling a server that is starting, bounded by the deadline above
        status, body = _get(f"{base}/ajax-api/2.0/mlflow/runs/search",
                            json.dumps({"experiment_ids": [experiment_id], "max_results": 100}).encode())
        assert status == 200
        run_ids = {r["info"]["run_id"] for r in json.loads(body)["runs"]}
        assert result.run_id in run_ids
        status, body = _get(f"{base}/ajax-api/2.0/mlflow/registered-models/search")
        assert status == 200
        assert settings.registered_model_name in {m["name"] for m in json.loads(body)["registered_models"]}
        assert _get(f"{base}/")[0] == 200  # the UI page itself
    finally:
        import os
        import signal

        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
