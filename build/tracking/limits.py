"""How long one MLflow request may keep a build waiting: `--mlflow-timeout`, applied to MLflow's HTTP client.

MLflow's client reads its limits from the environment on every request (mlflow/environment_variables.py, read by
`http_request` in mlflow/utils/rest_utils.py): 120 s per attempt and 7 retries with a backoff doubling from 4 s
by default, so a tracking server that answered the preflight and then hung or died held a build silent for about
20 minutes per call, and as long again for each run it ended on the way out. A build sets them for its own
duration (`applied`) and puts back what was there; once the server is lost, `LAST_RESORT` keeps ending the open
runs to a second each.

The limits of a timeout T: the failing call (attempts × per-attempt timeout + the backoff pause), the ending of
the two runs open at most (the build's and a model's, `ENDING_S`) and the process's own end (`EXIT_S`: the error
said, the interpreter gone, measured at 1.5-3 s on a busy machine) fit in T; never less than one attempt of 1 s
(MLflow takes whole seconds). The default 30 s gives 3 attempts of 7 s.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from latentlens.build.tracking.preflight import TrackingStoreError

MAX_ATTEMPTS = 3
ENDING_S = 2  # after the server is lost: the model's run and the build's run are ended, one LAST_RESORT attempt each
EXIT_S = 3  # then the one line is said and the process ends
NAMES = ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
         "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER")


@dataclass(frozen=True)
class HttpLimits:
    """One MLflow request: `attempts` tries of `timeout_s` each (connect and read), `backoff_factor` s × 2 of
    pause before the third (urllib3 pauses from the second retry on), no jitter."""

    timeout_s: int
    attempts: int
    backoff_factor: int

    @classmethod
    def within(cls, timeout_s: float) -> HttpLimits:
        usable = timeout_s - ENDING_S - EXIT_S
        backoff = 1 if usable >= 8 else 0  # a server restarting gets a pause; short timeouts cannot afford one
        left = usable - 2 * backoff
        attempts = max(1, min(MAX_ATTEMPTS, int(left)))
        return cls(max(1, int(left // attempts)), attempts, backoff)

    @property
    def call_s(self) -> float:
        """The longest one call can take: every attempt timed out, with the pause between them."""
        pause = sum(self.backoff_factor * 2 ** (n - 1) for n in range(2, self.attempts))
        return self.attempts * self.timeout_s + pause

    def env(self) -> dict[str, str]:
        return {"MLFLOW_HTTP_REQUEST_TIMEOUT": str(self.timeout_s),
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(self.attempts - 1),
                "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": str(self.backoff_factor),
                "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0"}


LAST_RESORT = HttpLimits(timeout_s=1, attempts=1, backoff_factor=0)


class TrackingLost(TrackingStoreError):
    """The tracking server stopped answering during the build (after the preflight): exit 2, one line. `artifact`
    says what became of the build's output (build/pipeline.py adds it)."""

    def __init__(self, tracking_uri: str, what: str, limits: HttpLimits, artifact: str = "") -> None:
        self.tracking_uri, self.what, self.limits = tracking_uri, what, limits
        tries = f"{limits.attempts} attempt{'s' if limits.attempts > 1 else ''}, timeout {limits.timeout_s} s each"
        super().__init__(f"MLflow tracking server {tracking_uri} stopped answering during the build ({what}; {tries})"
                         + (f"; {artifact}" if artifact else "") + "; is it running? (--mlflow-timeout sets the wait)")


@contextmanager
def applied(limits: HttpLimits) -> Iterator[None]:
    """MLflow's requests within `limits` inside the block; the environment as it was afterwards. The environment
    is the process's: two builds in threads of one process share the last one's limits."""
    saved = {name: os.environ.get(name) for name in NAMES}
    os.environ.update(limits.env())
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def give_up() -> None:
    """The server is lost: what is left to say to it (ending the open runs) gets one short attempt each."""
    os.environ.update(LAST_RESORT.env())


def request_failure(exc: BaseException) -> str | None:
    """What failed, when `exc` (or an exception it was raised from or during) is an MLflow request that got no
    answer — timed out, refused, cut, or retried out on 5xx: "runs/set-tag: read timed out". None for
    anything else (an answer MLflow refused, a bug), which stays what it is."""
    import requests
    from mlflow.exceptions import MlflowException

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MlflowException) and current.message.startswith("API request to "):
            return _described(current.message)
        if isinstance(current, requests.RequestException):
            return _described(f"API request to {getattr(current.request, 'url', '?')} failed with {current}")
        current = current.__cause__ or current.__context__
    return None


REASONS = {"Read timed out": "read timed out", "Connection refused": "connection refused",
           "ConnectTimeout": "connect timed out", "RemoteDisconnected": "the server closed the connection",
           "Connection reset": "connection reset", "Connection aborted": "connection aborted",
           "too many 5": "answered 5xx to every attempt"}


def _described(message: str) -> str:
    """ "API request to http://h:p/api/2.0/mlflow/runs/set-tag failed with ... Read timed out ..." ->
    "runs/set-tag: read timed out"."""
    url = message.removeprefix("API request to ").split(" ", 1)[0]
    path = url.split("://", 1)[-1].partition("/")[2].split("?", 1)[0]
    endpoint = path.removeprefix("api/2.0/mlflow/").removeprefix("api/3.0/mlflow/") or url
    reason = next((text for marker, text in REASONS.items() if marker in message), "no answer")
    return f"{endpoint}: {reason}"
