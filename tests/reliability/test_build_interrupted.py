"""A build killed at any stage leaves the previous artifact and the MLflow store usable, a rerun
succeeds, and two builds racing for one output leave one whole artifact.

One complete build on a tiny synthetic dataset is the "previous" state; each case copies it,
starts a second build against the copy and interrupts it at a stage read from its log.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from latentlens.build.export.artifact import verify_artifact
from latentlens.handler import schema
from latentlens.handler.artifact import open_artifact
from latentlens.handler.settings import Settings
from tests.reliability.build_runner import Build, run_build, write_tiny_dataset

pytestmark = pytest.mark.slow

ARTIFACT = "latentlens.duckdb"


@dataclass(frozen=True)
class Previous:
    root: Path
    sha256: str
    manifest: str
    run_id: str


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_info(path: Path) -> dict[str, str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return dict(con.execute(f"SELECT key, value FROM {schema.BUILD_INFO}").fetchall())
    finally:
        con.close()


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny") / "ml-tiny")


@pytest.fixture(scope="module")
def previous(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> Previous:
    root = tmp_path_factory.mktemp("previous")
    run_build(tiny_data, root / ARTIFACT, mlflow_uri(root))
    art = root / ARTIFACT
    return Previous(root, sha256(art), Path(schema.manifest_path(str(art))).read_text(),
                    build_info(art)["mlflow_run_id"])


def mlflow_uri(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow.db'}"


@pytest.fixture
def workdir(previous: Previous, tmp_path: Path) -> Path:
    """A copy of the previous build's output directory (artifact, manifest, MLflow store)."""
    root = tmp_path / "out"
    shutil.copytree(previous.root, root)
    return root


def mlflow_runs(root: Path) -> dict[str, str]:
    """run id -> status of every run in the store's latentlens experiment (opens it read-write, as the UI does)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_uri(root))
    experiment = client.get_experiment_by_name("latentlens")
    assert experiment is not None
    return {r.info.run_id: r.info.status for r in client.search_runs([experiment.experiment_id], max_results=1000)}


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(f".{ARTIFACT}"))


def assert_serves(art: Path, tmp: Path) -> None:
    """The handler's own checks pass: manifest checksum, schema version, tables; and the build's contract."""
    opened = open_artifact(str(art), Settings(db=str(art), tmp_dir=str(tmp / "lltmp")))
    try:
        assert opened.movies and opened.popular
    finally:
        opened.conn.close()
    verify_artifact(art)


def assert_previous_intact(root: Path, previous: Previous, tmp: Path) -> None:
    art = root / ARTIFACT
    assert sha256(art) == previous.sha256
    assert Path(schema.manifest_path(str(art))).read_text() == previous.manifest
    assert_serves(art, tmp)
    assert mlflow_runs(root).get(previous.run_id) == "FINISHED"


KILL_POINTS = [
    pytest.param(r"INFO evaluating itemknn", signal.SIGKILL, False, id="sigkill-while-evaluating"),
    pytest.param(r"INFO retraining ", signal.SIGTERM, False, id="sigterm-while-retraining"),
    pytest.param("export", signal.SIGTERM, False, id="sigterm-while-writing-the-artifact"),
    pytest.param("export", signal.SIGKILL, True, id="sigkill-while-writing-the-artifact-then-rerun"),
]


@pytest.mark.parametrize("stage,sig,rerun", KILL_POINTS)
def test_interrupted_build_leaves_the_previous_artifact_and_mlflow_usable(
        stage, sig, rerun, previous, workdir, tiny_data, tmp_path):
    build = Build(tiny_data, workdir / ARTIFACT, mlflow_uri(workdir))
    if stage == "export":
        build.wait_for_line(r"INFO top-\d+ for")  # the last stage before write_artifact
        build.wait_for_file(build.temp_artifact())  # the new artifact is being written
    else:
        build.wait_for_line(stage)
    code = build.kill(sig)
    # SIGKILL ends the process outright; SIGTERM unwinds the build like Ctrl-C (exit 130),
    # so it cleans up after itself. Either way the build did not finish.
    assert code == (-sig if sig == signal.SIGKILL else 130), f"the signal did not land as expected: exit {code}"
    assert "written" not in build.log()
    if sig == signal.SIGTERM:
        assert "interrupted" in build.log()
        assert not leftovers(workdir), leftovers(workdir)

    assert_previous_intact(workdir, previous, tmp_path)
    # Nothing half-written is left, except what a process killed without warning cannot remove: its own temp file.
    own = {build.temp_artifact().name, build.temp_artifact().name + ".wal", build.temp_artifact().name + ".sha256"}
    assert set(leftovers(workdir)) <= own, leftovers(workdir)

    if rerun:
        # the runs the killed build left RUNNING (its parent run; a SIGKILL cannot end it)
        left_running = {run_id for run_id, status in mlflow_runs(workdir).items() if status == "RUNNING"}
        assert left_running
        done = run_build(tiny_data, workdir / ARTIFACT, mlflow_uri(workdir))
        art = workdir / ARTIFACT
        assert sha256(art) != previous.sha256 and sha256(art).startswith(done.written_sha256_prefix())
        assert Path(schema.manifest_path(str(art))).read_text().split()[0] == sha256(art)
        assert_serves(art, tmp_path)
        runs = mlflow_runs(workdir)
        new_run = build_info(art)["mlflow_run_id"]
        assert runs[previous.run_id] == "FINISHED" and runs[new_run] == "FINISHED"
        # The killed build's runs (parent and nested) do not stay RUNNING forever: the rerun marked them.
        assert {runs[run_id] for run_id in left_running} == {"KILLED"} and "RUNNING" not in runs.values()
        # The rerun neither trips over nor removes the killed build's temp file (see the report: they accumulate).
        assert set(leftovers(workdir)) <= own


def test_two_builds_at_once_leave_one_whole_artifact(previous, workdir, tiny_data, tmp_path):
    out = workdir / ARTIFACT
    first, second = Build(tiny_data, out, mlflow_uri(workdir)), Build(tiny_data, out, mlflow_uri(workdir))
    codes = [first.wait(), second.wait()]
    finished = [b for b, code in zip((first, second), codes, strict=True) if code == 0]
    assert finished, f"neither build finished:\n{first.log()}\n----\n{second.log()}"
    for b, code in zip((first, second), codes, strict=True):
        if code != 0:  # failing is allowed, but cleanly: an error, not a crash, and nothing published
            assert code > 0 and "written" not in b.log(), b.log()
    digest = sha256(out)
    assert digest != previous.sha256
    assert any(digest.startswith(b.written_sha256_prefix()) for b in finished)
    assert Path(schema.manifest_path(str(out))).read_text().split()[0] == digest
    assert_serves(out, tmp_path)
    assert leftovers(workdir) == []
    runs = mlflow_runs(workdir)
    assert runs[previous.run_id] == "FINISHED" and runs[build_info(out)["mlflow_run_id"]] == "FINISHED"
