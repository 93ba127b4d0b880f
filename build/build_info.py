"""The artifact's build_info row: what was built, from which data, by which code and run.

The table itself (key, value) and the keys every artifact must carry are owned by
latentlens.handler.schema; BuildInfo is the typed record both engines fill in.
"""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from latentlens._version import __version__
from latentlens.handler import schema

if TYPE_CHECKING:
    from latentlens.build.settings import BuildSettings


@dataclass(frozen=True, kw_only=True)
class DatasetFacts:
    """What an engine read, for build_info: each engine counts it its own way (numpy or Spark)."""

    name: str
    path: str
    sha256: str
    n_users: int
    n_movies: int
    n_rated_movies: int
    n_ratings: int
    events_used: int = 0       # `build --events`: rating events among the ratings counted above
    events_sessions: int = 0   # sessions trained as users of their own (among n_users)


@dataclass(frozen=True, kw_only=True)
class BuildInfo:
    """Fields in the order of the artifact's rows; `engine` is left out for the in-process build."""

    schema_version: int = schema.SCHEMA_VERSION
    dataset_name: str
    dataset_path: str
    dataset_sha256: str
    n_users: int
    n_movies: int
    n_rated_movies: int
    n_ratings: int
    topn_champion: str
    rating_champion: str
    mlflow_run_id: str
    mlflow_tracking_uri: str
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    package_version: str = __version__
    git_commit: str
    seed: int
    top_n: int
    similar_n: int
    quick: bool
    scale: str
    challenger_model: str = ""   # `build --challenger`: the model of challenger_recommendations ("": none)
    events_used: int = 0         # `build --events`: rating events folded into the ratings
    events_sessions: int = 0     # sessions trained as users (session_users)
    engine: str | None = None

    @classmethod
    def of(cls, settings: BuildSettings, dataset: DatasetFacts, topn_champion: str | None,
           rating_champion: str | None, run_id: str, scale: str, commit: str, engine: str | None = None) -> BuildInfo:
        """The one way either engine fills it: the dataset's facts, the champions and the build's settings."""
        return cls(
            dataset_name=dataset.name, dataset_path=dataset.path, dataset_sha256=dataset.sha256,
            n_users=dataset.n_users, n_movies=dataset.n_movies, n_rated_movies=dataset.n_rated_movies,
            n_ratings=dataset.n_ratings, topn_champion=topn_champion or "", rating_champion=rating_champion or "",
            mlflow_run_id=run_id, mlflow_tracking_uri=settings.mlflow_uri, git_commit=commit, seed=settings.seed,
            top_n=settings.top_n, similar_n=settings.similar_n, quick=settings.quick, scale=scale,
            challenger_model=settings.challenger or "", events_used=dataset.events_used,
            events_sessions=dataset.events_sessions, engine=engine)

    def row(self) -> dict[str, str]:
        """key -> value text, as the build_info table stores them."""
        return {k: str(v) for k, v in asdict(self).items() if v is not None}


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parents[1])
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
