"""MLflow bookkeeping of a build: experiment, parent run, one nested run per model."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow.data.sources import LocalArtifactDatasetSource
from mlflow.data.meta_dataset import MetaDataset

from latentlens.build.progress import get_logger

log = get_logger(__name__)


def artifact_root_for(tracking_uri: str) -> str:
    """Artifacts of a sqlite store live beside the database file (artifacts/mlruns)."""
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri.removeprefix("sqlite:///"))
        return (db.parent / "mlruns").resolve().as_uri()
    return "./mlruns"


def setup_experiment(tracking_uri: str, experiment: str) -> str:
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        exp_id = mlflow.create_experiment(experiment, artifact_location=artifact_root_for(tracking_uri))
    else:
        exp_id = found.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parents[2])
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def log_dataset(path: Path, name: str, digest: str, context: str = "full") -> None:
    """Record which data the build read: its path and our own sha256 over its files."""
    dataset = MetaDataset(LocalArtifactDatasetSource(Path(path).resolve().as_uri()), name=name, digest=digest[:36])
    mlflow.log_input(dataset, context=context)


@contextmanager
def model_run(name: str) -> Iterator[mlflow.ActiveRun]:
    """A nested run for one model, tagged with its name."""
    with mlflow.start_run(run_name=name, nested=True) as run:
        mlflow.set_tag("model", name)
        yield run


def log_params(params: Mapping[str, Any]) -> None:
    """Params as MLflow takes them: strings, long nested configs cut at 500 characters."""
    def text(value: Any) -> str:
        s = str(value)
        return s if len(s) <= 500 else s[:497] + "..."

    mlflow.log_params({k: text(v) for k, v in params.items()})


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    clean = {k.replace("@", "_at_"): float(v) for k, v in metrics.items() if v is not None}
    mlflow.log_metrics(clean, step=step)
