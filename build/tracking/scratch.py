"""The build's scratch folder for MLflow files, and the sweep of those a killed build left behind.

A build writes plots, tables and pickles to a scratch folder before logging them. It lives in the
system's temporary directory (`TMPDIR`, else /tmp) as `latentlens-mlflow-<pid>-<random>`, and its
owner holds an flock on `.owner.lock` inside it for as long as the build runs. A build killed
without warning (SIGKILL, OOM, power loss) cannot remove its folder; the next build removes every
one whose owner is gone: its pid is not alive on this host AND its lock is free. A folder of a
running build is never touched (its pid is alive, or, from another pid namespace sharing the
directory, its lock is held), nor is anything without the prefix.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from latentlens.build.processes import pid_alive
from latentlens.build.progress import get_logger

log = get_logger(__name__)

PREFIX = "latentlens-mlflow-"
LOCK_NAME = ".owner.lock"


def scratch_root() -> Path:
    """Where scratch folders live: the system's temporary directory."""
    return Path(tempfile.gettempdir())


@contextmanager
def scratch_dir(root: Path | None = None) -> Iterator[Path]:
    """A fresh scratch folder owned by this process (stale ones swept first); removed on exit."""
    root = scratch_root() if root is None else root
    sweep_stale(root)
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=root))
    fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # the kernel drops it when this process dies, however it dies
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)


def owner_pid(path: Path) -> int | None:
    """The pid in a scratch folder's name, or None when the name is not one of ours."""
    if not path.name.startswith(PREFIX):
        return None
    pid, _, rest = path.name.removeprefix(PREFIX).partition("-")
    return int(pid) if pid.isascii() and pid.isdigit() and rest else None


def _lock_is_free(path: Path) -> bool:
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDWR)
    except FileNotFoundError:
        return True  # the owner died before it made its lock
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing releases a lock taken here
    return True


def sweep_stale(root: Path) -> list[Path]:
    """Remove the scratch folders under `root` whose owner is gone; returns what was removed."""
    removed: list[Path] = []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return removed
    for path in entries:
        pid = owner_pid(path)
        if pid is None or pid == os.getpid() or pid_alive(pid) or path.is_symlink() or not path.is_dir():
            continue
        if _lock_is_free(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    if removed:
        log.info("removed %d scratch folder(s) of killed builds from %s", len(removed), root)
    return removed
