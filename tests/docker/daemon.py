"""Docker for the suite, from Debian's packages: dockerd, the docker CLI, docker-compose 1.29 and debootstrap.

Installed with apt when missing (root only); a daemon of the suite's own (its own socket, `--bridge=none`, no
iptables rules), whose images live under CACHE between runs so unchanged layers are reused; a Debian base image
made with debootstrap (no registry but Debian's and PyPI's is reachable here), and a wheelhouse of every pinned
package, built on this machine, that the image builds read over HTTP on 127.0.0.1. The tarball and the wheelhouse
are cached under CACHE too, keyed by what they are made from.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("LATENTLENS_DOCKER_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "latentlens-docker")

DOCKERD, DOCKER, COMPOSE, DEBOOTSTRAP = "/usr/sbin/dockerd", "/usr/bin/docker", "/usr/bin/docker-compose", \
    "/usr/sbin/debootstrap"
PACKAGES = ("docker.io", "docker-compose", "debootstrap")

# The base image: Debian bookworm, whose Python is 3.11 like the official python:3.11-slim the Dockerfile names.
SUITE = "bookworm"
MIRROR = os.environ.get("LATENTLENS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_PACKAGES = ("python3", "python3-venv")
TRIMMED = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale")
# What the wheelhouse holds besides the project's closure: the venv's pip and setuptools, the build backend (pip
# builds the project's wheel in an isolated environment) and the Lambda image's runtime interface client.
WHEELHOUSE_EXTRAS = ("pip", "setuptools", "hatchling", "awslambdaric")
WHEELHOUSE_PORT = 47231


def run(args: list[str], *, timeout: float, env: dict[str, str] | None = None, **kwargs) -> str:
    """Run a command; its stdout. Fails with the command's output when it fails or hangs."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, **kwargs)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{' '.join(args)} did not end within {timeout:.0f} s:\n{exc.stdout}\n{exc.stderr}") \
            from None
    assert done.returncode == 0, f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n" \
                                 f"{done.stderr[-4000:]}"
    return done.stdout


def not_installable() -> str | None:
    """Why Docker cannot be installed here (the one case where the Docker tests skip), or None."""
    if os.geteuid() != 0:
        return "dockerd and debootstrap need root, and the tests do not run as root"
    missing = [p for p in (DOCKERD, DOCKER, COMPOSE, DEBOOTSTRAP) if not os.access(p, os.X_OK)]
    if missing and shutil.which("apt-get") is None:
        return f"{', '.join(missing)} missing, and no apt-get to install Debian's {', '.join(PACKAGES)}"
    return None


def install() -> None:
    """Debian's docker.io, docker-compose and debootstrap, when one is missing (as root, with apt-get)."""
    if all(os.access(p, os.X_OK) for p in (DOCKERD, DOCKER, COMPOSE, DEBOOTSTRAP)):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], timeout=600, env=env)
    run(["apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=300", *PACKAGES], timeout=900, env=env)


@contextlib.contextmanager
def cache_lock() -> Iterator[None]:
    """One suite at a time uses CACHE (the daemon's data root, the tarball, the wheelhouse)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        for stale in CACHE.glob("tmp-*"):  # what a run that was killed left half made
            shutil.rmtree(stale, ignore_errors=True)
        yield


@dataclass(frozen=True)
class Docker:
    """The suite's daemon: `docker(...)` and `compose(...)` talk to it and to nothing else."""

    env: dict[str, str]

    def docker(self, *args: str, timeout: float = 600, **kwargs) -> str:
        return run([DOCKER, *args], timeout=timeout, env=self.env, **kwargs)

    def compose(self, *args: str, timeout: float = 900, env: dict[str, str] | None = None, **kwargs) -> str:
        return run([COMPOSE, *args], timeout=timeout, env={**self.env, **(env or {})}, cwd=REPO, **kwargs)

    def has_image(self, tag: str) -> bool:
        return subprocess.run([DOCKER, "image", "inspect", tag], capture_output=True, env=self.env,
                              timeout=60).returncode == 0

    def log(self, container: str) -> str:
        done = subprocess.run([DOCKER, "logs", container], capture_output=True, text=True, env=self.env, timeout=60)
        return done.stdout + done.stderr

    def image_mb(self, tag: str) -> float:
        return int(self.docker("image", "inspect", "--format", "{{.Size}}", tag)) / 1e6


@contextlib.contextmanager
def daemon() -> Iterator[Docker]:
    """dockerd with its data root in CACHE/docker and its socket in a temporary directory; stopped on the way out."""
    run_dir = Path(tempfile.mkdtemp(prefix="lld-", dir="/tmp"))  # short: unix socket paths are at most 107 bytes
    sock = run_dir / "docker.sock"
    log = open(run_dir / "dockerd.log", "w")
    proc = subprocess.Popen([DOCKERD, "--data-root", str(CACHE / "docker"), "--exec-root", str(run_dir / "exec"),
                             "--pidfile", str(run_dir / "docker.pid"), "--host", f"unix://{sock}",
                             "--bridge=none", "--iptables=false"], stdout=log, stderr=subprocess.STDOUT)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(run_dir), "DOCKER_HOST": f"unix://{sock}",
           "DOCKER_BUILDKIT": "0", "COMPOSE_DOCKER_CLI_BUILD": "0"}
    docker = Docker(env)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([DOCKER, "version"], capture_output=True, env=env, timeout=30).returncode != 0:
            assert proc.poll() is None, f"dockerd exited ({proc.returncode}):\n{(run_dir / 'dockerd.log').read_text()}"
            assert time.monotonic() < deadline, f"dockerd did not answer within 60 s:\n" \
                                                f"{(run_dir / 'dockerd.log').read_text()[-4000:]}"
            time.sleep(0.5)
        yield docker
        # untagged images of builds more than 3 days old go: the cache stays bounded, and this week's layers stay
        docker.docker("image", "prune", "--force", "--filter", "until=72h")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        unmount_below(run_dir)
        shutil.rmtree(run_dir)


def unmount_below(root: Path) -> None:
    """dockerd leaves its exec root's netns/default mounted when it exits: unmount what is mounted below `root`."""
    with open("/proc/self/mounts") as fh:
        points = [line.split()[1] for line in fh]
    for point in sorted((p for p in points if p.startswith(f"{root}/")), reverse=True):
        run(["umount", point], timeout=60)


def _key(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def base_image(docker: Docker) -> str:
    """A Debian base image made by debootstrap (minbase and Python), imported into the daemon; its tag.
    The tarball is made once per suite, mirror and package list, and kept in CACHE."""
    key = _key(SUITE, MIRROR, *BASE_PACKAGES, *TRIMMED)
    tag = f"latentlens-test-base:{SUITE}-{key}"
    if docker.has_image(tag):
        return tag
    tarball = CACHE / f"base-{SUITE}-{key}.tar"
    if not tarball.exists():
        work = Path(tempfile.mkdtemp(prefix="tmp-debootstrap-", dir=CACHE))
        try:
            root = work / "root"
            run([DEBOOTSTRAP, "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(root), MIRROR],
                timeout=1200)
            for trimmed in TRIMMED:
                shutil.rmtree(root / trimmed)
            run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(work / "base.tar"), "."], timeout=300)
            os.replace(work / "base.tar", tarball)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        for old in CACHE.glob(f"base-{SUITE}-*.tar"):
            if old != tarball:
                old.unlink()
    docker.docker("import", str(tarball), tag, timeout=600)
    return tag


def wheelhouse() -> Path:
    """Every wheel the images install (the project's closure with the build extra, pinned by constraints.txt, and
    WHEELHOUSE_EXTRAS), built by this machine's pip; made once per constraints.txt and dependencies of
    pyproject.toml."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = json.dumps([project["dependencies"], project["optional-dependencies"]], sort_keys=True)
    key = _key((REPO / "constraints.txt").read_bytes(), requirements, *WHEELHOUSE_EXTRAS)
    wheels = CACHE / f"wheels-{key}"
    if wheels.is_dir():
        return wheels
    work = Path(tempfile.mkdtemp(prefix="tmp-wheels-", dir=CACHE))
    try:
        run([sys.executable, "-m", "pip", "wheel", "--quiet", "-c", str(REPO / "constraints.txt"), "--wheel-dir",
             str(work), f"{REPO}[build]", *WHEELHOUSE_EXTRAS], timeout=1800)
        for own in work.glob("latentlens-*.whl"):
            own.unlink()  # the images build the project's wheel from the checkout
        os.replace(work, wheels)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for old in CACHE.glob("wheels-*"):
        if old != wheels:
            shutil.rmtree(old, ignore_errors=True)
    return wheels


@contextlib.contextmanager
def served(directory: Path) -> Iterator[str]:
    """`directory` over HTTP on 127.0.0.1 (a page of links pip reads with --find-links); its URL. On WHEELHOUSE_PORT
    when it is free: the URL is a build argument, and a build argument that changes invalidates every layer that
    installs something, so a URL that stays the same lets the next run reuse them."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = partial(Quiet, directory=str(directory))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", WHEELHOUSE_PORT), handler)
    except OSError:  # taken: any port works, the layers are built again
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
