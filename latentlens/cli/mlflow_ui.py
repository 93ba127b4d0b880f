"""`latentlens mlflow-ui`: the MLflow UI on 127.0.0.1 against the build's tracking store.

MLflow runs in its own process group (`mlflow ui` starts a server process with workers of its
own); SIGTERM, SIGINT and SIGHUP sent to us stop that whole group (as SIGTERM), and whatever is
left of it when MLflow exits is stopped, so nothing outlives the command.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from latentlens.build.settings import default_tracking_uri
from latentlens.build.tracking.runs import WORKFLOW_QUERY, artifact_root_for
from latentlens.cli.serve import check_port
from latentlens.cli.settings import MlflowUiSettings

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
GRACE_SECONDS = 10


def ui_command(tracking_uri: str, port: int) -> list[str]:
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri,
            "--default-artifact-root", artifact_root_for(tracking_uri),
            "--host", "127.0.0.1", "--port", str(port)]


def experiment_url(base: str, experiment_id: str | None) -> str:
    """The experiment's page in MLflow 3's machine-learning view (its default view is GenAI's traces)."""
    if experiment_id is None:
        return f"{base}/#/experiments?{WORKFLOW_QUERY}"
    return f"{base}/#/experiments/{experiment_id}/runs?{WORKFLOW_QUERY}"


def find_experiment_id(tracking_uri: str, experiment: str) -> str | None:
    """The experiment's id when the store already exists (never creates a store just to look)."""
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).is_file():
        return None
    try:
        from mlflow.tracking import MlflowClient

        found = MlflowClient(tracking_uri).get_experiment_by_name(experiment)
    except Exception:
        return None
    return found.experiment_id if found else None


def run_ui(settings: MlflowUiSettings) -> int:
    """MLflow's UI until it exits or we are signalled; its exit code (128 + N when killed by signal N)."""
    uri, port = default_tracking_uri(settings.tracking_uri), settings.port
    check_port("127.0.0.1", port)
    url = experiment_url(f"http://127.0.0.1:{port}", find_experiment_id(uri, settings.experiment))
    print(f"MLflow UI for {uri}\n  open {url}\n  (Ctrl-C to stop)", file=sys.stderr, flush=True)
    child = subprocess.Popen(ui_command(uri, port), start_new_session=True)
    previous = {sig: signal.getsignal(sig) for sig in FORWARDED}

    def forward(signum, frame):
        # always as SIGTERM: a process started in the background inherits SIGINT ignored, and MLflow's
        # server stops gracefully on SIGTERM whatever it was started from
        _signal_group(child.pid, signal.SIGTERM)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    try:
        code = child.wait()
        return 128 - code if code < 0 else code  # killed by signal N: exit 128 + N, like a shell
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop_group(child)


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def stop_group(child: subprocess.Popen) -> None:
    """Stop MLflow's whole process group: SIGTERM, then SIGKILL for whatever is left after a grace period
    (the group outlives its leader while a worker is alive)."""
    _signal_group(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while _group_alive(child.pid) and time.monotonic() < deadline:
        child.poll()  # reap the leader so it stops counting as a member
        time.sleep(0.05)
    if _group_alive(child.pid):
        _signal_group(child.pid, signal.SIGKILL)
    child.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
