"""Can the build's MLflow store take this build? Asked before the data is read, so a store that cannot be
reached or written costs seconds, not a trained build and a page of tracebacks.

- a tracking server (http, https): one request it must answer within `timeout_s`, retried until then
  (MLflow's own client waits 120 s per request and retries 7 times: over four minutes of silence);
- a local store (sqlite, file): its folder and the artifacts folder beside it must be writable and hold at
  least MIN_FREE_BYTES. Nothing is created: a refused build leaves no database behind.

Any other store (databricks, postgresql, ...) is left to MLflow.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from latentlens.build.progress import get_logger
from latentlens.build.settings import SettingsError

log = get_logger(__name__)

# Room a build's runs and models take in a local store, measured on the embedded data (docs/build.md): the
# champions' pyfuncs (the package's code and a pickled model each), the fitted models, plots and tables leave
# 0.49 GB with --log-models champions and 1.6 GB with all (every evaluated model's pyfunc as well).
MIN_FREE_BYTES = 512_000_000       # --log-models champions
ALL_MODELS_FREE_BYTES = 2_000_000_000  # --log-models all, or left to the plan (the data's size is not known yet)
RETRY_PAUSE_S = 0.25


class TrackingStoreError(SettingsError):
    """The MLflow store cannot take the build (unreachable, not writable, full): exit 2, before any training when
    the preflight finds it (a server lost later is TrackingLost, build/tracking/limits.py)."""


def check_store(tracking_uri: str, timeout_s: float, needed_bytes: int = MIN_FREE_BYTES) -> None:
    """TrackingStoreError unless the store at `tracking_uri` can take a build (see the module docstring)."""
    scheme = tracking_uri.split("://", 1)[0].lower() if "://" in tracking_uri else "file"
    if scheme in ("http", "https"):
        check_server(tracking_uri, timeout_s)
    elif scheme in ("sqlite", "file"):
        folder = local_store_folder(tracking_uri)
        if folder is not None:
            check_folder(tracking_uri, folder, needed_bytes)


def local_store_folder(tracking_uri: str) -> Path | None:
    """The folder a local store writes: the sqlite database's, or the file store itself (None: in memory)."""
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri.removeprefix("sqlite:///")).parent
    if tracking_uri.startswith("file://"):
        return Path(tracking_uri.removeprefix("file://"))
    if "://" not in tracking_uri:
        return Path(tracking_uri)
    return None


def _existing(directory: Path) -> Path:
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def check_folder(tracking_uri: str, folder: Path, needed_bytes: int = MIN_FREE_BYTES) -> None:
    """The store's folder and its `mlruns` artifacts folder: writable (a probe file, removed) and with room."""
    for directory in (folder, folder / "mlruns"):
        where = _existing(directory)
        if not where.is_dir():
            raise TrackingStoreError(f"MLflow store {tracking_uri}: {where} is not a directory")
        try:
            fd, probe = tempfile.mkstemp(dir=where, prefix=".latentlens-probe-")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise TrackingStoreError(f"MLflow store {tracking_uri}: cannot write in {where}: "
                                     f"{exc.strerror or exc}; choose another --mlflow-uri") from None
        free = shutil.disk_usage(where).free
        if free < needed_bytes:
            raise TrackingStoreError(f"MLflow store {tracking_uri}: {where}: {free / 1e6:.1f} MB free, a build's runs "
                                     f"and models need about {needed_bytes / 1e6:.0f} MB; free some space, choose "
                                     "another --mlflow-uri or log fewer models (--log-models champions)")
    database = Path(tracking_uri.removeprefix("sqlite:///")) if tracking_uri.startswith("sqlite:///") else None
    if database is not None and database.exists() and not os.access(database, os.W_OK):
        raise TrackingStoreError(f"MLflow store {tracking_uri}: {database} is not writable")


def check_server(tracking_uri: str, timeout_s: float) -> None:
    """One request the tracking server must answer within `timeout_s` in all (retried until then)."""
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    creds = get_default_host_creds(tracking_uri)
    deadline = time.monotonic() + timeout_s  # from here: importing MLflow's client is local work, not waiting
    problem = ""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TrackingStoreError(f"MLflow tracking server {tracking_uri}: no answer within {timeout_s:g} s "
                                     f"({problem or 'no attempt'}); is it running? (--mlflow-timeout sets the wait)")
        try:
            status = http_request(creds, "/api/2.0/mlflow/experiments/search", "GET", max_retries=0,
                                  backoff_factor=0, timeout=left, raise_on_status=False,
                                  params={"max_results": 1}).status_code
        except Exception as exc:  # requests' ConnectionError, ReadTimeout, ...: retried until the deadline
            if not problem:
                log.info("MLflow tracking server %s: %s; retrying for up to %g s", tracking_uri, _short(exc), timeout_s)
            problem = _short(exc)
            time.sleep(min(RETRY_PAUSE_S, max(0.0, deadline - time.monotonic())))
            continue
        if status >= 400:
            raise TrackingStoreError(f"MLflow tracking server {tracking_uri}: answered HTTP {status} to a search "
                                     "of experiments; is this an MLflow server, and may this user write to it?")
        return


def _short(exc: BaseException) -> str:
    """A one-line reason: requests nests urllib3's errors in long reprs."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for marker in ("Connection refused", "Read timed out", "timed out", "Name or service not known"):
        if marker in text:
            return marker.lower()
    return text if len(text) <= 160 else text[:157] + "..."
