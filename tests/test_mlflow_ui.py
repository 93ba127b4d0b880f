"""`latentlens mlflow-ui` serves the build's real sqlite store on 127.0.0.1, and a signal to the
command stops MLflow with all its workers (real processes, found in /proc)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # generous: 2 cores shared by busy neighbours
            return resp.status, resp.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc (children of children included)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start_ui(uri: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "latentlens", "mlflow-ui", "--mlflow-uri", uri,
                             "--port", str(port)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # the UI's first start migrates nothing but imports a lot
    while _get(f"{base}/health")[0] != 200:
        if proc.poll() is not None or time.monotonic() > deadline:
            _kill_tree(proc)
            raise AssertionError("MLflow UI did not come up: " + proc.stderr.read().decode()[-2000:])
        time.sleep(0.5)  # polling a server that is starting, bounded by the deadline above
    return proc, base


def _stop_with(proc: subprocess.Popen, base: str, signum: int) -> None:
    """Signal the command alone (as `kill` or a supervisor would) and check nothing of MLflow is left."""
    tree = _descendants(proc.pid)
    assert tree, "mlflow-ui started no MLflow process"
    os.kill(proc.pid, signum)
    code = proc.wait(timeout=60)
    assert code in (0, 128 + signal.SIGTERM), proc.stderr.read().decode()[-2000:]
    assert sorted(pid for pid in tree if _alive(pid)) == [], "MLflow processes left running"
    assert _get(f"{base}/health")[0] == 0


def _kill_tree(proc: subprocess.Popen) -> None:
    for pid in _descendants(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_mlflow_ui_lists_the_build_and_stops_whole_on_sigterm(embedded_build) -> None:
    from mlflow.tracking import MlflowClient

    settings, result = embedded_build
    experiment_id = MlflowClient(settings.mlflow_uri).get_experiment_by_name(settings.experiment).experiment_id
    proc, base = _start_ui(settings.mlflow_uri)
    try:
        status, body = _get(f"{base}/ajax-api/2.0/mlflow/runs/search",
                            json.dumps({"experiment_ids": [experiment_id], "max_results": 100}).encode())
        assert status == 200
        run_ids = {r["info"]["run_id"] for r in json.loads(body)["runs"]}
        assert result.run_id in run_ids
        status, body = _get(f"{base}/ajax-api/2.0/mlflow/registered-models/search")
        assert status == 200
        names = {m["name"] for m in json.loads(body)["registered_models"]}
        assert {settings.registered_model_name, settings.registered_topn_name} <= names
        status, body = _get(f"{base}/ajax-api/2.0/mlflow/experiments/get?experiment_id={experiment_id}")
        tags = {t["key"]: t["value"] for t in json.loads(body)["experiment"]["tags"]}
        assert tags["mlflow.experimentKind"] == "custom_model_development"  # not the GenAI view
        assert _get(f"{base}/")[0] == 200  # the UI page itself
        _stop_with(proc, base, signal.SIGTERM)
    finally:
        _kill_tree(proc)


@pytest.mark.slow
def test_mlflow_ui_stops_whole_on_sigint(tmp_path) -> None:
    from latentlens.build.tracking.runs import setup_experiment

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    setup_experiment(uri, "latentlens")
    proc, base = _start_ui(uri)
    try:
        _stop_with(proc, base, signal.SIGINT)
    finally:
        _kill_tree(proc)


def test_mlflow_ui_prints_the_experiment_url_in_the_machine_learning_view() -> None:
    from latentlens.cli.mlflow_ui import experiment_url

    assert experiment_url("http://127.0.0.1:5000", "3") == \
        "http://127.0.0.1:5000/#/experiments/3/runs?workflowType=machine_learning"


@pytest.mark.slow
def test_plain_mlflow_ui_from_the_build_folder_opens_the_builds_default_store(embedded_build, tmp_path,
                                                                              monkeypatch) -> None:
    """`latentlens build` with no --mlflow-uri writes ./mlflow.db, which is where a plain `mlflow ui` (no options)
    started from the same folder looks: here that file is the suite's real store."""
    from mlflow.tracking import MlflowClient

    from latentlens.build.settings import default_tracking_uri

    settings, result = embedded_build
    (tmp_path / "mlflow.db").symlink_to(Path(settings.mlflow_uri.removeprefix("sqlite:///")).resolve())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert Path(default_tracking_uri().removeprefix("sqlite:///")).samefile(tmp_path / "mlflow.db")
    experiment_id = MlflowClient(settings.mlflow_uri).get_experiment_by_name(settings.experiment).experiment_id
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while _get(f"{base}/health")[0] != 200:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-2000:]
            time.sleep(0.5)  # polling a server that is starting, bounded by the deadline above
        status, body = _get(f"{base}/ajax-api/2.0/mlflow/runs/search",
                            json.dumps({"experiment_ids": [experiment_id], "max_results": 100}).encode())
        assert status == 200
        assert result.run_id in {r["info"]["run_id"] for r in json.loads(body)["runs"]}
    finally:
        _kill_tree(proc)
