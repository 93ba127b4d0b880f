"""Two builds at once on a fresh MLflow store: both finish (MLflow's sqlite migration runs once, under the
store lock), and the build that publishes last wins both the artifact and the registry's @champion."""

from __future__ import annotations

import duckdb
import pytest
from mlflow.tracking import MlflowClient

from latentlens.handler import schema
from tests.reliability.build_runner import Build, write_tiny_dataset

pytestmark = pytest.mark.slow


def test_two_builds_at_once_on_a_fresh_store_both_finish_and_the_last_published_wins(tmp_path) -> None:
    data = write_tiny_dataset(tmp_path / "ml-tiny")
    out, uri = tmp_path / "out" / "latentlens.duckdb", f"sqlite:///{tmp_path / 'out' / 'mlflow.db'}"
    out.parent.mkdir()
    builds = [Build(data, out, uri, register=True), Build(data, out, uri, register=True)]
    codes = [b.wait() for b in builds]
    assert codes == [0, 0], "\n----\n".join(b.log()[-3000:] for b in builds)
    on_disk = schema.sha256_file(out)
    assert any(on_disk.startswith(b.written_sha256_prefix()) for b in builds)
    con = duckdb.connect(str(out), read_only=True)
    try:
        run_id = con.execute(f"SELECT value FROM {schema.BUILD_INFO} WHERE key = 'mlflow_run_id'").fetchone()[0]
    finally:
        con.close()
    client = MlflowClient(uri)
    versions = client.search_model_versions("name = 'latentlens-topn'")
    assert len(versions) == 2  # one per build, each registered when it published
    champion = client.get_model_version_by_alias("latentlens-topn", "champion")
    assert champion.tags["artifact_sha256"] == on_disk and champion.run_id == run_id
    experiment = client.get_experiment_by_name("latentlens")
    statuses = [r.info.status for r in client.search_runs([experiment.experiment_id], "tags.latentlens.pid != ''")]
    assert statuses == ["FINISHED", "FINISHED"]
