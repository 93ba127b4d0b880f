"""compose.yaml as written (no Docker needed; tests/docker runs it): ports on 127.0.0.1 only, the API and the UI
after a successful build, and every image target one the Dockerfile has."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "compose.yaml").read_text())
TARGETS = set(re.findall(r"^FROM \S+ AS (\S+)$", (REPO / "Dockerfile").read_text(), flags=re.M))


def test_every_published_port_is_on_127_0_0_1_only():
    ports = {name: service.get("ports", []) for name, service in COMPOSE["services"].items()}
    assert ports["api"] and ports["mlflow"]
    for name, published in ports.items():
        for port in published:
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name} publishes {port!r}"


def test_the_api_and_the_ui_start_once_the_build_has_succeeded():
    services = COMPOSE["services"]
    assert set(services) == {"build", "api", "mlflow"}
    for name in ("api", "mlflow"):
        assert services[name]["depends_on"] == {"build": {"condition": "service_completed_successfully"}}


def test_every_service_builds_a_target_of_the_dockerfile():
    assert {"build", "api", "lambda"} <= TARGETS
    for name, service in COMPOSE["services"].items():
        assert service["build"]["target"] in TARGETS, name
        assert service["build"]["context"] == "."


def test_the_build_writes_its_mlflow_store_into_the_volume_the_ui_reads() -> None:
    """The build's default store (./mlflow.db) would stay inside its container: compose points it at the volume."""
    services = COMPOSE["services"]
    store = services["build"]["environment"]["MLFLOW_TRACKING_URI"]
    mount = next(v.split(":")[1] for v in services["build"]["volumes"] if v.startswith("artifacts:"))
    assert store == f"sqlite:///{mount}/mlflow.db"
    assert f"--backend-store-uri {store}" in services["mlflow"]["command"]
