"""`latentlens mlflow-ui`: the MLflow UI on 127.0.0.1 against the build's tracking store."""

from __future__ import annotations

import subprocess
import sys

from latentlens.build.settings import default_tracking_uri
from latentlens.build.tracking.runs import artifact_root_for


def ui_command(tracking_uri: str, port: int) -> list[str]:
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri,
            "--default-artifact-root", artifact_root_for(tracking_uri),
            "--host", "127.0.0.1", "--port", str(port)]


def run_ui(tracking_uri: str | None, port: int = 5000) -> int:
    uri = default_tracking_uri(tracking_uri)
    print(f"MLflow UI for {uri} on http://127.0.0.1:{port}  (Ctrl-C to stop)", file=sys.stderr)
    return subprocess.call(ui_command(uri, port))
