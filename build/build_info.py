"""The artifact's build_info row: what was built, from which data, by which code and run.

The table itself (key, value) and the keys every artifact must carry are owned by
latentlens.handler.schema; BuildInfo is the typed record both engines fill in.
"""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from latentlens._version import __version__
from latentlens.handler import schema


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
    engine: str | None = None

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
