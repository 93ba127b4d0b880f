"""A build killed (SIGKILL) between publishing its artifact and registering its champions leaves @champion on the
previous build; `latentlens doctor` reports it (exit 2) and `--repair` points @champion at the artifact's own
champions (exit 0). Real builds, a real sqlite store, a real kill at the registration step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from latentlens.build.pipeline import run
from latentlens.build.settings import BuildSettings, EvaluationSettings
from latentlens.cli import main
from latentlens.handler import schema

pytestmark = pytest.mark.build
REPO = Path(__file__).resolve().parents[2]
NAMES = ("latentlens-rating", "latentlens-topn")

KILLED_AT_REGISTER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from latentlens.build.pipeline import run
    from latentlens.build.settings import BuildSettings, EvaluationSettings
    from latentlens.build.tracking.tracker import MlflowTracker

    class KilledAtRegister(MlflowTracker):
        def register(self, *args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)  # the artifact is published, nothing registered yet

    data, out, uri = sys.argv[1:]
    settings = BuildSettings(data_dir=Path(data), out=Path(out), mlflow_uri=uri, quick=True, top_n=15,
                             similar_n=10, models=("popularity", "itemknn", "content", "baseline"),
                             evaluation=EvaluationSettings(folds=2), progress=False)
    run(settings, tracker=KilledAtRegister(uri, settings.experiment))
""")


def champions(uri: str) -> dict[str, str]:
    client = MlflowClient(uri)
    return {name: client.get_model_version_by_alias(name, "champion").tags["artifact_sha256"] for name in NAMES}


def published_sha(out: Path) -> str:
    parsed = schema.parse_manifest(Path(schema.manifest_path(str(out))).read_text())
    assert parsed is not None
    return parsed[0]


def test_a_build_killed_before_registering_is_found_and_repaired_by_doctor(small_dataset, tmp_path, capsys) -> None:
    uri, out = f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "latentlens.duckdb"
    run(BuildSettings(data_dir=small_dataset, out=out, mlflow_uri=uri, quick=True, top_n=20, similar_n=10,
                      models=("popularity", "itemknn", "content", "baseline"), evaluation=EvaluationSettings(folds=2),
                      progress=False))
    first = published_sha(out)
    assert champions(uri) == {name: first for name in NAMES}
    assert main(["doctor", "--out", str(out), "--mlflow-uri", uri]) == 0

    done = subprocess.run([sys.executable, "-c", KILLED_AT_REGISTER, str(small_dataset), str(out), uri], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=600)
    assert done.returncode == -signal.SIGKILL, done.stderr
    second = published_sha(out)
    assert second != first and champions(uri) == {name: first for name in NAMES}  # the drift doctor must find

    capsys.readouterr()
    assert main(["doctor", "--out", str(out), "--mlflow-uri", uri]) == 2
    report = capsys.readouterr().out
    assert report.count("stopped before registering") == 2, report
    assert champions(uri) == {name: first for name in NAMES}  # reporting changes nothing

    assert main(["doctor", "--out", str(out), "--mlflow-uri", uri, "--repair"]) == 0
    assert capsys.readouterr().out.count("repaired") == 2
    assert champions(uri) == {name: second for name in NAMES}
    assert main(["doctor", "--out", str(out), "--mlflow-uri", uri]) == 0
