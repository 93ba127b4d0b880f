"""`docker-compose up` on compose.yaml, as a user runs it, with Debian's docker-compose 1.29: the build service builds
the artifact and the MLflow store into the volume, then the page and the API answer on 127.0.0.1 and so does the
MLflow UI, over that store; the Lambda image (Dockerfile target `lambda`, the artifact bundled by
docker/lambda-bundled.Dockerfile) answers API Gateway events through AWS's runtime interface client.

The test's override file (written here) changes only how the images are built: the debootstrapped base image, the
wheelhouse instead of PyPI, and the host's network for the build steps (to reach the wheelhouse on 127.0.0.1). The
services run as compose.yaml has them, on its network, with ports published on 127.0.0.1; the build is given
`--quick --folds 2` and two models through LATENTLENS_BUILD_ARGS, the way compose.yaml lets a user add build
options.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docker.conftest import BuildArgs
from tests.docker.daemon import REPO, Docker
from tests.handler.events import http_v2, rest_v1
from tests.handler.runtime_api import RuntimeApiStub, next_result

PROJECT = "latentlenstest"
# what the build service is asked to build: two models, so the build takes seconds, not minutes (the models are
# tested elsewhere; here, that compose's services hand the artifact and the MLflow store on)
MODELS = ("popularity", "surprise_svd")
IMAGES = ("latentlens-api", "latentlens-build", "latentlens-lambda", "latentlens-lambda:bundled")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, data: dict | None = None) -> tuple[int, str, str]:
    """(status, content type, body) of a GET, or of a JSON POST when `data` is given."""
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def wait_for(url: str, timeout: float, logs: Callable[[], str]) -> None:
    """Until `url` answers 200; fails with the services' logs after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if fetch(url)[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url} did not answer 200 within {timeout:.0f} s; the services' logs:\n{logs()[-6000:]}")
        time.sleep(0.5)


@dataclass
class Stack:
    """The running services and what the run measured."""

    docker: Docker
    compose: Callable[..., str]
    api: str
    mlflow: str
    figures: dict[str, float]


def override(build_args: BuildArgs) -> dict:
    """The test's compose override: how the images are built here (see the module docstring), and the Lambda target
    as a service of its own that is built, never started."""
    build = {"network": "host", "args": build_args.as_dict()}
    return {"services": {
        "build": {"build": build},
        "api": {"build": build},
        "mlflow": {"build": build},
        "lambda": {"build": {**build, "context": ".", "target": "lambda"}, "image": "latentlens-lambda"},
    }}


@pytest.fixture(scope="module")
def stack(docker: Docker, build_args: BuildArgs, tmp_path_factory: pytest.TempPathFactory,
          docker_figures: dict[str, float]) -> Iterator[Stack]:
    path = tmp_path_factory.mktemp("compose") / "override.yaml"
    path.write_text(json.dumps(override(build_args), indent=2))  # JSON is YAML
    api_port, mlflow_port = free_port(), free_port()
    env = {"LATENTLENS_PORT": str(api_port), "MLFLOW_PORT": str(mlflow_port),
           "LATENTLENS_BUILD_ARGS": f"--quick --folds 2 --models {','.join(MODELS)}"}

    def compose(*args: str, timeout: float = 900) -> str:
        return docker.compose("--project-name", PROJECT, "--file", "compose.yaml", "--file", str(path), *args,
                              timeout=timeout, env=env)

    compose("down", "--volumes", "--remove-orphans")  # what a run that was killed left
    started = time.monotonic()
    compose("build", timeout=1800)
    docker_figures["compose build, s"] = time.monotonic() - started
    up = Stack(docker, compose, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{mlflow_port}", docker_figures)
    started = time.monotonic()
    try:
        compose("up", "--detach", "build", "api", "mlflow", timeout=900)
        wait_for(f"{up.api}/", 120, lambda: compose("logs", "--no-color"))
        up.figures["compose up to the page answering, s"] = time.monotonic() - started
        wait_for(f"{up.mlflow}/health", 120, lambda: compose("logs", "--no-color"))
        up.figures["to the MLflow UI answering, s"] = time.monotonic() - started
        yield up
    finally:
        compose("down", "--volumes")
        for image in IMAGES:
            if docker.has_image(image):
                up.figures[f"{image}, MB"] = docker.image_mb(image)


def get_json(url: str) -> dict:
    status, kind, body = fetch(url)
    assert (status, kind) == (200, "application/json"), (url, status, body[:500])
    return json.loads(body)


def test_compose_up_serves_the_page_and_the_api(stack: Stack):
    status, kind, page = fetch(f"{stack.api}/")
    assert (status, kind.split(";")[0]) == (200, "text/html")
    assert "<title>LatentLens" in page

    health = get_json(f"{stack.api}/health")
    assert health["status"] == "ok" and health["counts"]["users"] == 610  # the embedded ml-latest-small

    picks = get_json(f"{stack.api}/users/1/recommendations?n=5")
    assert len(picks["items"]) == 5 and all(isinstance(i["movie_id"], int) and i["title"] for i in picks["items"])
    assert get_json(f"{stack.api}/recommend/1?n=5") == picks  # the short form, the same answer


def test_compose_up_serves_the_mlflow_ui_over_the_builds_store(stack: Stack):
    status, kind, page = fetch(f"{stack.mlflow}/")
    assert (status, kind.split(";")[0]) == (200, "text/html") and "MLflow" in page

    run_id = get_json(f"{stack.api}/health")["build"]["mlflow_run_id"]  # the run that made the served artifact
    run = get_json(f"{stack.mlflow}/api/2.0/mlflow/runs/get?run_id={run_id}")["run"]
    assert run["info"]["status"] == "FINISHED"
    experiment = get_json(f"{stack.mlflow}/api/2.0/mlflow/experiments/get-by-name?experiment_name=latentlens")
    assert run["info"]["experiment_id"] == experiment["experiment"]["experiment_id"]

    status, _, body = fetch(f"{stack.mlflow}/api/2.0/mlflow/runs/search",
                            {"experiment_ids": [run["info"]["experiment_id"]], "max_results": 100})
    assert status == 200, body[:500]
    tags = [tag for r in json.loads(body)["runs"] for tag in r["data"].get("tags", [])]
    models = {tag["value"] for tag in tags if tag["key"] == "model"}
    assert set(MODELS) <= models  # a run per model, under the build's run


def test_build_service_keeps_the_built_artifact(stack: Stack):
    """A second `up` serves what the first built: the build service does not build again."""
    before = get_json(f"{stack.api}/health")["artifact_sha256"]
    said = stack.compose("run", "--rm", "-T", "build")
    assert "artifacts/latentlens.duckdb is built already" in said
    assert get_json(f"{stack.api}/health")["artifact_sha256"] == before


def bundled_lambda_image(stack: Stack, context: Path) -> str:
    """The Lambda image with the artifact compose built (copied out of the API's container), as
    docker/lambda-bundled.Dockerfile makes it from a context holding artifacts/latentlens.duckdb."""
    (context / "artifacts").mkdir(parents=True)
    container = stack.compose("ps", "--quiet", "api").strip()
    for name in ("latentlens.duckdb", "latentlens.duckdb.sha256"):
        # --follow-link: the build publishes the artifact as a link into its store of builds
        stack.docker.docker("cp", "--follow-link", f"{container}:/app/artifacts/{name}",
                            str(context / "artifacts" / name))
    stack.docker.docker("build", "--quiet", "--file", str(REPO / "docker" / "lambda-bundled.Dockerfile"),
                        "--tag", "latentlens-lambda:bundled", str(context))
    return "latentlens-lambda:bundled"


def test_lambda_image_answers_api_gateway_events_from_its_artifact(stack: Stack, tmp_path: Path):
    image = bundled_lambda_image(stack, tmp_path / "context")
    stub = RuntimeApiStub([http_v2("/users/1/recommendations?n=5"), rest_v1("/movies/858")])
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    # as Lambda runs it: a read-only file system but /tmp, a user that is not root, the Runtime API on its address
    container = stack.docker.docker(
        "run", "--detach", "--network", "host", "--read-only", "--tmpfs", "/tmp", "--user", "993:990",
        "--env", f"AWS_LAMBDA_RUNTIME_API=127.0.0.1:{stub.server_address[1]}", image).strip()
    try:
        kind, request_id, response = next_result(stub)
        assert (kind, request_id, response["statusCode"]) == ("response", "req-0", 200), response
        assert response["headers"]["content-type"] == "application/json"
        assert json.loads(response["body"]) == get_json(f"{stack.api}/users/1/recommendations?n=5")

        kind, request_id, response = next_result(stub)
        assert (kind, request_id, response["statusCode"]) == ("response", "req-1", 200), response
        assert json.loads(response["body"])["movie_id"] == 858
    except BaseException:
        print(f"the Lambda container's log:\n{stack.docker.log(container)}")  # in pytest's report of the failure
        raise
    finally:
        stack.docker.docker("rm", "--force", container)
        stub.done.set()
        stub.shutdown()
        stub.server_close()
