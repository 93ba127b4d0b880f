"""The Docker tier (`docker` marker, tests/conftest.py): the suite's own daemon, a debootstrapped base image and the
wheelhouse the image builds install from (tests/docker/daemon.py). Where Docker can be installed (root, apt) but
does not work, these tests fail; they skip, saying why, only where it cannot be installed. The fixtures are the
package's: the daemon stops when the last Docker test ends, not with the session."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.docker import daemon


@dataclass(frozen=True)
class BuildArgs:
    """What every image build of the suite is given: the base image, and the wheelhouse instead of PyPI."""

    base_image: str
    find_links: str

    def as_dict(self) -> dict[str, str]:
        return {"BASE_IMAGE": self.base_image, "PIP_FIND_LINKS": self.find_links, "PIP_NO_INDEX": "1"}


@pytest.fixture(scope="package")
def docker_figures(request: pytest.FixtureRequest) -> Iterator[dict[str, float]]:
    """What the Docker tests measure (seconds, image sizes), printed as one line when they end."""
    figures: dict[str, float] = {}
    yield figures
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\ndocker: " + "; ".join(f"{name} {value:.0f}" for name, value in figures.items()))


@pytest.fixture(scope="package")
def docker(docker_figures: dict[str, float]) -> Iterator[daemon.Docker]:
    if reason := daemon.not_installable():
        pytest.skip(f"Docker tests skipped: {reason}")
    started = time.monotonic()
    daemon.install()
    with daemon.cache_lock(), daemon.daemon() as running:
        docker_figures["install and start dockerd, s"] = time.monotonic() - started
        yield running


@pytest.fixture(scope="package")
def build_args(docker: daemon.Docker, docker_figures: dict[str, float]) -> Iterator[BuildArgs]:
    started = time.monotonic()
    base = daemon.base_image(docker)
    docker_figures["base image, s"] = time.monotonic() - started
    started = time.monotonic()
    wheels = daemon.wheelhouse()
    docker_figures["wheelhouse, s"] = time.monotonic() - started
    with daemon.served(wheels) as url:
        yield BuildArgs(base, url)
