"""Suite-wide fixtures: one real quick build of the embedded data, shared by every test that needs it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EMBEDDED = REPO / "data" / "ml-latest-small"

os.environ.setdefault("LATENTLENS_PROGRESS", "0")  # keep test logs readable


@pytest.fixture(scope="session")
def embedded_build(tmp_path_factory: pytest.TempPathFactory):
    """`latentlens build --quick` on the embedded ml-latest-small, with a real sqlite MLflow store."""
    from build.pipeline import run
    from build.settings import BuildSettings

    root = tmp_path_factory.mktemp("embedded-build")
    settings = BuildSettings(
        data_dir=EMBEDDED,
        out=root / "latentlens.duckdb",
        mlflow_uri=f"sqlite:///{root / 'mlflow.db'}",
        quick=True,
    )
    return settings, run(settings)
