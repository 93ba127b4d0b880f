"""MLflow bookkeeping of a build: the store's lock, the experiment, runs of killed builds, params and metrics."""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import mlflow
from mlflow.data.meta_dataset import MetaDataset
from mlflow.data.sources import LocalArtifactDatasetSource  # type: ignore[attr-defined]  # mlflow makes it at import

from latentlens.build.processes import pid_alive
from latentlens.build.progress import get_logger

log = get_logger(__name__)


def artifact_root_for(tracking_uri: str) -> str:
    """Artifacts of a sqlite store live beside the database file (./mlruns for the default ./mlflow.db)."""
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri.removeprefix("sqlite:///"))
        return (db.parent / "mlruns").resolve().as_uri()
    return "./mlruns"


def experiment_artifact_location(tracking_uri: str) -> str | None:
    """Where a new experiment keeps its runs' artifacts: a tracking server's own choice (None: its
    --default-artifact-root, or mlflow-artifacts:/ through the server). "./mlruns" would be resolved by the server
    against its own working directory and then written there by this process, on this machine."""
    if tracking_uri.split("://", 1)[0].lower() in ("http", "https"):
        return None
    return artifact_root_for(tracking_uri)


# MLflow 3's UI reads this tag to open an experiment as classic ML (runs, metrics, models) rather
# than in its GenAI view (traces, token usage). 3.17's UI follows its own ML/GenAI switch instead,
# so links to the UI also carry WORKFLOW_QUERY (latentlens/cli/mlflow_ui.py).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
WORKFLOW_QUERY = "workflowType=machine_learning"
PID_TAG = "latentlens.pid"
HOST_TAG = "latentlens.host"


def store_lock(tracking_uri: str):
    """An exclusive lock beside a sqlite store (`<db>.lock`): builds take it to create or migrate the
    store (MLflow's sqlite migration is not safe when two processes run it at once) and to publish an
    artifact together with its registry entry. Other stores need none (a tracking server serialises)."""
    if not tracking_uri.startswith("sqlite:///"):
        return nullcontext()
    return _file_lock(Path(tracking_uri.removeprefix("sqlite:///") + ".lock"))


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another build holding %s", path)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def setup_experiment(tracking_uri: str, experiment: str) -> str:
    """Create (or migrate) the store and the experiment under the store lock; mark runs of killed builds."""
    mlflow.set_tracking_uri(tracking_uri)
    with store_lock(tracking_uri):
        found = mlflow.get_experiment_by_name(experiment)
        if found is None:
            exp_id = mlflow.create_experiment(experiment, artifact_location=experiment_artifact_location(tracking_uri),
                                              tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
        else:
            exp_id = found.experiment_id
            if found.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
                mlflow.MlflowClient(tracking_uri).set_experiment_tag(exp_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        mark_killed_runs(mlflow.MlflowClient(tracking_uri), exp_id)
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def tag_build_process() -> None:
    """Who runs this build, so a later build can tell a killed one (pid gone) from a running one."""
    mlflow.set_tags({PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()})


def mark_killed_runs(client: mlflow.MlflowClient, experiment_id: str) -> list[str]:
    """Runs left RUNNING by a build of this host whose process is gone (kill -9, power loss) -> KILLED,
    with their nested runs. Runs of live builds, of other hosts, or without our tags are left alone."""
    running = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=5000)
    host = socket.gethostname()
    dead = {r.info.run_id for r in running
            if r.data.tags.get(HOST_TAG) == host and r.data.tags.get(PID_TAG, "").isdigit()
            and not pid_alive(int(r.data.tags[PID_TAG]))}
    killed = [r.info.run_id for r in running
              if r.info.run_id in dead or r.data.tags.get("mlflow.parentRunId") in dead]
    for run_id in killed:
        client.set_terminated(run_id, status="KILLED")
    if dead:
        log.info("marked %d run(s) of %d killed build(s) KILLED", len(killed), len(dead))
    return killed


def log_dataset(path: Path, name: str, digest: str, context: str = "full") -> None:
    """Record which data the build read: its path and our own sha256 over its files."""
    source = LocalArtifactDatasetSource(Path(path).resolve().as_uri())
    # MetaDataset leaves Dataset's abstract `profile` undefined; Dataset is no ABC, so it instantiates
    dataset = MetaDataset(source, name=name, digest=digest[:36])  # type: ignore[abstract]  # see above
    mlflow.log_input(dataset, context=context)


def log_params(params: Mapping[str, Any]) -> None:
    """Params as MLflow takes them: strings, long nested configs cut at 500 characters."""
    def text(value: Any) -> str:
        s = str(value)
        return s if len(s) <= 500 else s[:497] + "..."

    mlflow.log_params({k: text(v) for k, v in params.items()})


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    clean = {k.replace("@", "_at_"): float(v) for k, v in metrics.items() if v is not None}
    mlflow.log_metrics(clean, step=step)
