"""Typed settings of `latentlens publish dynamodb` (standard library only: the CLI reads its defaults here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from latentlens.build.settings import stderr_is_terminal
from latentlens.handler.table_layout import ROLLBACK_GRACE_S


@dataclass(frozen=True)
class PublishSettings:
    source: Path | None
    name: str
    endpoint_url: str | None = None
    region: str | None = None
    keep: int = 2  # previous builds kept for --rollback
    sample: int = 200  # users and movies read back and compared with the source
    workers: int = 8  # concurrent BatchWriteItem calls
    # A table a rollback leaves is deleted by a later publish or rollback once this has passed: longer than a
    # warm container's pointer cache (LATENTLENS_DYNAMODB_POINTER_CACHE_S, 60 s), so none still serves it.
    grace_s: float = ROLLBACK_GRACE_S
    via_s3: str | None = None  # s3://bucket/prefix: stage DynamoDB JSON there and ImportTable instead of writing
    tmp_dir: Path = Path("/tmp/latentlens-publish")
    # Each call: connect and read timeouts, bounded attempts (botocore's default read timeout is 60 s a try).
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 10.0
    max_attempts: int = 8  # throttled batches are retried; a hung endpoint is caught by the deadline first
    deadline_s: float = 30.0  # the endpoint must answer within this before anything is written (--timeout)
    progress: bool = field(default_factory=stderr_is_terminal)  # bars on stderr (--progress/--no-progress)
