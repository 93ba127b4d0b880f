"""A tracking server that answers the preflight and then hangs or dies mid-build: every MLflow request of the
build is held to --mlflow-timeout (build/tracking/limits.py), so the build ends within it with one line and
exit 2, and the artifact at --out is left as it was (or, when the server is lost while registering, the one line
says the artifact is the build's and how to register its champions).

Real parts: MLflow's own server app over a sqlite store, behind a TCP front on 127.0.0.1 that stops answering at
a chosen request (mlflow_front.py); the real CLI in a process of its own.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from latentlens.build.export.artifact import write_artifact
from latentlens.build.tracking.limits import ENDING_S, EXIT_S, NAMES, HttpLimits, TrackingLost, applied
from tests.export.test_artifact import small_tables
from tests.reliability.build_runner import MODELS
from tests.reliability.mlflow_front import Front, mlflow_server_that_fails
from tests.reliability.test_build_preflight import write_ratings

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 8  # 3 attempts of 1 s (HttpLimits.within)
SLACK_S = 4  # a busy machine: 2 cores shared with other test runs
FIRST_MODEL_RUN = ("/api/2.0/mlflow/runs/create", 2)  # the build's run is the first, the first model's the second
ERROR = "latentlens: error: "
OPEN_RUNS = 2  # the build's and the first model's: each ended with one short attempt once the server is lost


@pytest.fixture
def small_data(tmp_path: Path) -> Path:
    return write_ratings(tmp_path / "ml-small", [(u, m) for u in range(1, 6) for m in range(1, 6) if (u + m) % 3])


@pytest.fixture
def previous(tmp_path: Path) -> Path:
    """A good artifact from an earlier build at --out, with its checksum beside it."""
    out = tmp_path / "out" / "latentlens.duckdb"
    write_artifact(out, small_tables(tag="previous"))
    return out


def digests(directory: Path) -> dict[str, str]:
    """Every file under `directory` by its sha256, every symlink by its target (--out links to its build)."""
    return {str(p.relative_to(directory)): f"-> {os.readlink(p)}" if p.is_symlink()
            else hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.rglob("*")) if not p.is_dir()}


def cli_build(front: Front, data: Path, out: Path, tmp: Path, *extra: str) -> tuple[int, str, float]:
    """The real CLI, in its own process and working directory; (exit code, stderr, seconds since the failure)."""
    done = subprocess.run(
        [sys.executable, "-m", "latentlens", "build", "--data", str(data), "--out", str(out),
         "--mlflow-uri", f"http://127.0.0.1:{front.port}", "--mlflow-timeout", str(TIMEOUT_S), "--quick",
         "--no-progress", "--models", MODELS, "--folds", "2", *extra],
        cwd=tmp, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
    ended = time.monotonic()
    assert front.failed_at is not None, done.stderr  # the server did stop answering mid-build
    return done.returncode, done.stderr, ended - front.failed_at


def assert_one_line_exit_2(code: int, err: str, front: Front, *fragments: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err, err
    assert sum(line.startswith(ERROR) for line in err.splitlines()) == 1, err
    last = err.rstrip("\n").splitlines()[-1]
    assert last.startswith(f"{ERROR}MLflow tracking server http://127.0.0.1:{front.port} stopped answering "
                           "during the build ("), err
    for fragment in fragments:
        assert fragment in last, err
    return last


@pytest.mark.parametrize("how,reason", [("hang", "runs/set-tag: read timed out"),
                                        ("dead", "runs/set-tag: connection refused")])
def test_a_tracking_server_lost_mid_build_is_one_line_exit_2_within_the_timeout_and_keeps_the_artifact(
        small_data, previous, tmp_path, how, reason) -> None:
    before = digests(previous.parent)
    started_mlruns = sorted((Path.cwd() / "mlruns").iterdir()) if (Path.cwd() / "mlruns").exists() else []
    with mlflow_server_that_fails(tmp_path / "server", how, *FIRST_MODEL_RUN) as front:
        code, err, since = cli_build(front, small_data, previous, tmp_path, "--no-register")
        held = front.held_requests()
    limits = HttpLimits.within(TIMEOUT_S)
    assert_one_line_exit_2(code, err, front, reason, f"{limits.attempts} attempts, timeout 1 s each",
                           f"{previous} is as it was", "--mlflow-timeout")
    assert "evaluating popularity" in err  # mid-build: the data read, the first model's run begun
    assert since < TIMEOUT_S + SLACK_S, (since, err)  # MLflow's defaults: 20 minutes and more per call
    assert digests(previous.parent) == before  # the artifact and its checksum, byte for byte; no temp file
    # the run's artifacts went where the server keeps them, not to ./mlruns of whichever process wrote them
    assert (tmp_path / "server" / "mlruns").is_dir() and not (tmp_path / "mlruns").exists()
    assert not (Path.cwd() / "mlruns").exists() or started_mlruns == sorted((Path.cwd() / "mlruns").iterdir())
    if how == "hang":  # each attempt a connection of its own; then one short attempt to end each open run
        assert held[:limits.attempts] == ["POST /api/2.0/mlflow/runs/set-tag HTTP/1.1"] * limits.attempts
        assert len(held) == limits.attempts + OPEN_RUNS and all("/runs/get?" in r for r in held[limits.attempts:])


@pytest.mark.build
def test_a_server_lost_while_registering_says_the_artifact_is_published_and_how_to_register(
        small_data, previous, tmp_path) -> None:
    """Lost after the artifact is published (the first registry request never answered): the one line says so."""
    before = digests(previous.parent)
    with mlflow_server_that_fails(tmp_path / "server", "dead", "/api/2.0/mlflow/registered-models/search",
                                  answer=False) as front:
        code, err, since = cli_build(front, small_data, previous, tmp_path)
    assert_one_line_exit_2(code, err, front, "registered-models/search: ",
                           f"{previous} is this build's artifact but its champions are not registered",
                           "latentlens doctor --repair")
    assert since < TIMEOUT_S + SLACK_S, (since, err)
    import latentlens

    assert digests(previous.parent) != before
    with latentlens.open(previous) as lens:  # this build's artifact, complete and verified (its checksum)
        assert lens.sql("SELECT value FROM build_info WHERE key = 'dataset_name'").item() == "ml-small"


def test_run_build_holds_mlflow_to_the_timeout_and_restores_the_environment(small_data, previous, tmp_path,
                                                                            monkeypatch) -> None:
    """The Python API: TrackingLost (a TrackingStoreError: a ValueError), and the caller's MLflow settings back."""
    import latentlens

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "77")
    for name in NAMES[1:]:
        monkeypatch.delenv(name, raising=False)
    with mlflow_server_that_fails(tmp_path / "server", "hang", *FIRST_MODEL_RUN) as front:
        with pytest.raises(TrackingLost, match="runs/set-tag: read timed out") as raised:
            latentlens.run_build(data_dir=small_data, out=previous, mlflow_uri=f"http://127.0.0.1:{front.port}",
                                 mlflow_timeout_s=TIMEOUT_S, quick=True, register_model=False, progress=False,
                                 models=tuple(MODELS.split(",")))
        assert len(front.held) == HttpLimits.within(TIMEOUT_S).attempts + OPEN_RUNS
    assert isinstance(raised.value, ValueError)
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "77"
    assert not any(name in os.environ for name in NAMES[1:])


@pytest.mark.parametrize("timeout_s", [0, 1.5, 3, 6, 8, 9.9, 10, 13, 20, 30, 45.5, 120, 600])
def test_the_limits_fit_the_timeout_and_are_what_mlflow_reads(timeout_s) -> None:
    from mlflow import environment_variables as mlflow_env

    limits = HttpLimits.within(timeout_s)
    assert limits.call_s + ENDING_S + EXIT_S <= max(timeout_s, 1 + ENDING_S + EXIT_S)
    assert limits.timeout_s >= 1 and 1 <= limits.attempts <= 3
    if timeout_s >= 8:
        assert limits.attempts == 3  # a dropped connection is retried
    with applied(limits):  # MLflow reads its settings per request: these are what its client then uses
        assert mlflow_env.MLFLOW_HTTP_REQUEST_TIMEOUT.get() == limits.timeout_s
        assert mlflow_env.MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == limits.attempts - 1
        assert mlflow_env.MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.get() == limits.backoff_factor
        assert mlflow_env.MLFLOW_HTTP_REQUEST_BACKOFF_JITTER.get() == 0


def test_the_default_timeout_bounds_a_lost_server_to_30_s() -> None:
    from latentlens.build.settings import BuildSettings

    limits = HttpLimits.within(BuildSettings().mlflow_timeout_s)
    assert limits.call_s + ENDING_S + EXIT_S <= 30 and limits.attempts == 3
