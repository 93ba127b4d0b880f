"""Typed settings of the commands that are the command line's own (`serve`, `mlflow-ui`); the build's, the
publisher's and the synthesiser's live beside their code. Standard library only: the parser reads every
default from these classes, so `latentlens --help` loads nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass

from latentlens.build.settings import BuildSettings
from latentlens.handler.schema import DEFAULT_ARTIFACT


@dataclass(frozen=True)
class ServeSettings:
    """How `latentlens serve` runs uvicorn around the handler's app. What the app itself reads (where the
    artifact lives, timeouts, ...) is the handler's Settings (`LATENTLENS_*`), with `db` given here."""

    db: str = DEFAULT_ARTIFACT     # a path, s3://bucket/key or dynamodb://<name> (the handler's Settings.db)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1               # uvicorn worker processes
    access_log: bool = False       # one stdout line per request costs more than the lookup itself
    reload_check_s: float = 1.0    # a request checks at most this often whether a rebuild replaced the file
    events: str | None = None      # the event store: a file path (SQLite) or dynamodb://TABLE; None: the handler's
                                   # LATENTLENS_EVENTS, else POST /events answers 503 events_disabled


@dataclass(frozen=True)
class MlflowUiSettings:
    """How `latentlens mlflow-ui` runs MLflow's UI on 127.0.0.1 against the build's tracking store."""

    tracking_uri: str | None = None  # None: $MLFLOW_TRACKING_URI, else the build's default store
    port: int = 5000
    experiment: str = BuildSettings.experiment  # the build's experiment, whose URL is printed
