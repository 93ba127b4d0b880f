"""The MLflow store is checked before the data is read: a tracking server that never answers or a closed port
fails within --mlflow-timeout, a read-only or full store folder at once; one line, exit 2, nothing written.

Real parts only: a listener on 127.0.0.1 that accepts and never answers, a port nothing listens on, a real
MLflow server's protocol answered by a real sqlite store, a read-only and a 1 MB tmpfs (tiny_fs.py).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from latentlens.build.tracking.preflight import MIN_FREE_BYTES, TrackingStoreError, check_store
from tests.reliability.build_runner import MODELS
from tests.reliability.conftest import free_port
from tests.reliability.test_build_preflight import assert_refused_before_training, cli_build, write_ratings
from tests.reliability.tiny_fs import run_on_tmpfs

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 1.5


@pytest.fixture
def small_data(tmp_path: Path) -> Path:
    return write_ratings(tmp_path / "ml-small", [(u, m) for u in range(1, 6) for m in range(1, 6) if (u + m) % 3])


def args(data: Path, tmp: Path, uri: str, *extra: str) -> list[str]:
    return ["build", "--data", str(data), "--out", str(tmp / "out" / "a.duckdb"), "--mlflow-uri", uri,
            "--quick", "--no-register", "--no-progress", "--models", MODELS, *extra]


def assert_one_line_exit_2(code: int, err: str, tmp: Path, *fragments: str) -> None:
    assert_refused_before_training(code, err, tmp, *fragments)
    assert "loading" not in err  # refused before even reading the data
    assert not (tmp / "out").exists(), "something was written"


@pytest.mark.parametrize("where", ["silent", "closed"])
def test_a_tracking_server_that_never_answers_fails_within_the_timeout(small_data, tmp_path, capsys, silent_server,
                                                                       where) -> None:
    uri = silent_server if where == "silent" else f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    code, err = cli_build(capsys, *args(small_data, tmp_path, uri, "--mlflow-timeout", str(TIMEOUT_S)))
    elapsed = time.monotonic() - started
    assert_one_line_exit_2(code, err, tmp_path, f"MLflow tracking server {uri}: no answer within {TIMEOUT_S:g} s",
                           "timed out" if where == "silent" else "connection refused")
    assert TIMEOUT_S * 0.9 <= elapsed < TIMEOUT_S + 10, elapsed  # + the CLI's imports on a busy machine


@pytest.mark.parametrize("where", ["silent", "closed"])
def test_the_wait_for_a_tracking_server_ends_at_the_timeout(silent_server, where) -> None:
    uri = silent_server if where == "silent" else f"http://127.0.0.1:{free_port()}"
    import mlflow.utils.rest_utils  # noqa: F401 -- imported first: the clock measures the wait alone

    started = time.monotonic()
    with pytest.raises(TrackingStoreError, match="no answer within"):
        check_store(uri, TIMEOUT_S)
    assert TIMEOUT_S * 0.9 <= time.monotonic() - started < TIMEOUT_S + 1


def test_the_default_timeout_is_at_most_30_s() -> None:
    from latentlens.build.settings import BuildSettings
    from latentlens.cli import parser

    assert BuildSettings().mlflow_timeout_s <= 30
    assert parser().parse_args(["build"]).mlflow_timeout == BuildSettings().mlflow_timeout_s


def test_a_tracking_server_that_answers_passes(tmp_path) -> None:
    """A real MLflow server (the tracking protocol over a real sqlite store), so the check is no false alarm."""
    import os

    import mlflow
    from mlflow.server import app
    from werkzeug.serving import make_server

    mlflow.MlflowClient(f"sqlite:///{tmp_path / 'server.db'}").search_experiments()  # create the store
    os.environ["_MLFLOW_SERVER_FILE_STORE"] = f"sqlite:///{tmp_path / 'server.db'}"
    os.environ["_MLFLOW_SERVER_ARTIFACT_ROOT"] = str(tmp_path / "mlruns")
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        check_store(f"http://127.0.0.1:{server.server_port}", TIMEOUT_S)
    finally:
        server.shutdown()
        thread.join(timeout=5)
        for name in ("_MLFLOW_SERVER_FILE_STORE", "_MLFLOW_SERVER_ARTIFACT_ROOT"):
            os.environ.pop(name, None)


# --- a local store: writable and with room, before training --------------------------------------

def run_on(mount: Path, options: str, data: Path, tmp: Path) -> tuple[int, str]:
    done = run_on_tmpfs(mount, options, [sys.executable, "-m", "latentlens", *args(
        data, tmp, f"sqlite:///{mount / 'mlflow.db'}")], cwd=REPO)
    return done.returncode, done.stderr


def test_a_read_only_mlflow_store_is_refused_before_training(small_data, tmp_path) -> None:
    code, err = run_on(tmp_path / "ro", "ro", small_data, tmp_path)
    assert_one_line_exit_2(code, err, tmp_path, "MLflow store sqlite:///", "cannot write in", "Read-only file system")


def test_a_full_mlflow_store_is_refused_before_training(small_data, tmp_path) -> None:
    code, err = run_on(tmp_path / "tiny", "size=1m", small_data, tmp_path)
    assert_one_line_exit_2(code, err, tmp_path, "MLflow store sqlite:///", "MB free, a build's runs and models need")
    assert not (tmp_path / "tiny" / "mlflow.db").exists()


def test_a_read_only_artifacts_folder_beside_the_database_is_refused(small_data, tmp_path) -> None:
    """The runs' artifacts go to mlruns/ beside the database: that folder read-only, the database's writable."""
    store = tmp_path / "store"
    done = run_on_tmpfs(store / "mlruns", "ro", [sys.executable, "-m", "latentlens", *args(
        small_data, tmp_path, f"sqlite:///{store / 'mlflow.db'}")], cwd=REPO)
    assert_one_line_exit_2(done.returncode, done.stderr, tmp_path, "cannot write in", "mlruns", "Read-only")
    assert not (store / "mlflow.db").exists()


def test_a_store_with_room_passes_and_creates_nothing(tmp_path) -> None:
    check_store(f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}", TIMEOUT_S)
    assert not (tmp_path / "store").exists()
    assert MIN_FREE_BYTES >= 400_000_000  # the embedded build's champions alone leave 0.49 GB (docs/build.md)


def test_logging_every_model_asks_for_more_room() -> None:
    from latentlens.build.pipeline import store_room
    from latentlens.build.settings import BuildSettings
    from latentlens.build.tracking.preflight import ALL_MODELS_FREE_BYTES

    assert store_room(BuildSettings(log_models="champions")) == MIN_FREE_BYTES
    assert store_room(BuildSettings()) == store_room(BuildSettings(log_models="all")) == ALL_MODELS_FREE_BYTES
    assert ALL_MODELS_FREE_BYTES >= 1_600_000_000  # the embedded build with every model: 1.6 GB
