"""A Spark build killed (SIGKILL, no cleanup) while writing its output leaves the previous DuckDB
artifact, its manifest and the previous Parquet output exactly as they were.

The previous state is the embedded Spark build (spark_build); the killed build is a real
`latentlens build --engine spark` subprocess (its own JVM: a build is one process) on a tiny
dataset, killed when its log says it is writing the Parquet output.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from latentlens.build.engines.spark import export
from latentlens.build.export.artifact import verify_artifact
from latentlens.handler import schema
from tests.reliability.build_runner import REPO, write_tiny_dataset

pytestmark = pytest.mark.slow

TIMEOUT_S = 900  # a bound for a busy 2-core machine (JVM start, tiny build), not an expectation


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sigkill_while_writing_parquet_keeps_the_previous_outputs(spark_build, tmp_path) -> None:
    settings, result = spark_build
    root = tmp_path / "out"
    shutil.copytree(Path(settings.out).parent, root, symlinks=True)
    artifact = root / Path(settings.out).name
    parquet = export.parquet_target(artifact)
    before = {"artifact": _sha(artifact), "manifest": Path(schema.manifest_path(str(artifact))).read_text(),
              "parquet_link": os.readlink(parquet), "parquet_manifest": (parquet / export.MANIFEST).read_text()}
    data = write_tiny_dataset(tmp_path / "ml-tiny")
    cmd = [sys.executable, "-m", "latentlens", "build", "--engine", "spark", "--quick", "--no-progress",
           "--data", str(data), "--out", str(artifact), "--mlflow-uri", f"sqlite:///{root / 'mlflow.db'}"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    seen = []
    deadline = time.monotonic() + TIMEOUT_S
    try:
        for line in proc.stderr:
            seen.append(line)
            if "writing Parquet output" in line:
                time.sleep(0.5)  # into the write, past the first files
                os.killpg(proc.pid, signal.SIGKILL)  # the build and its JVM, as an OOM killer or `kill -9` would
                break
            assert time.monotonic() < deadline, "".join(seen[-20:])
        else:
            pytest.fail("build ended before writing its output:\n" + "".join(seen[-30:]))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert _sha(artifact) == before["artifact"]
    assert Path(schema.manifest_path(str(artifact))).read_text() == before["manifest"]
    assert os.readlink(parquet) == before["parquet_link"]
    assert (parquet / export.MANIFEST).read_text() == before["parquet_manifest"]
    assert json.loads(before["parquet_manifest"])["mlflow_run_id"] == result.run_id
    verify_artifact(artifact)
