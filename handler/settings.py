"""Typed settings of the lookup API, read from `LATENTLENS_*` environment variables.

Built on demand (never at import) so tests and `latentlens serve` can pass their own.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from latentlens.handler import schema, table_layout
from latentlens.handler.limits import ID_PATTERN


class Settings(BaseSettings):
    """Where the artifact lives and how the API serves it."""

    model_config = SettingsConfigDict(env_prefix="LATENTLENS_", frozen=True, extra="ignore",
                                      hide_input_in_errors=True)  # never print events_key

    db: str = Field(schema.DEFAULT_ARTIFACT,
                    description="artifact path, s3://bucket/key, or dynamodb://<name> "
                                "(a build published by `latentlens publish dynamodb`)")
    tmp_dir: str = Field("/tmp/latentlens-handler",
                         description="S3 downloads and DuckDB's temp/home (Lambda's only writable place)")
    verify_checksum: bool = Field(True, description="check the artifact against its sha256 manifest before opening")
    # The cold start's largest cost after the imports is hashing the whole file (~0.2 s at ML-25M): with this on,
    # a file whose manifest carries a fingerprint answers once the fingerprint (~5 MB read) matches, and the full
    # sha256 finishes beside the first answers; a mismatch then drops the file (503 checksum_mismatch) and the next
    # open of that file waits for the full sha256. Every page DuckDB reads is checked against its own block
    # checksum meanwhile. template.yaml turns it on for Lambda, whose package is immutable.
    quick_verify: bool = Field(False, description="answer once the manifest's fingerprint matches; the full "
                                                  "sha256 finishes beside the first answers")
    retry_interval_s: float = Field(2.0, ge=0, description="after a failed open (an unreadable or corrupt store "
                                    "included), wait this long before reading the store again")
    cache_max_age: int = Field(3600, ge=0, description="Cache-Control max-age of successful responses")
    # Lambda's response payload is at most 6 MB (6,291,456 bytes) including the headers and the JSON string
    # the body travels in; a larger answer is a JSON 503 response_too_large instead of an invocation error.
    max_response_bytes: int = Field(6_000_000, ge=1024, description="largest body, measured as the Lambda carries it")
    # As `latentlens serve`'s request-head limit (LATENTLENS_SERVE_MAX_HEADER_BYTES): a longer URL is a JSON 431.
    max_url_bytes: int = Field(64 * 1024, ge=1024, description="longest URL (path and query string)")
    duckdb_threads: int = Field(1, ge=1, description="DuckDB worker threads; queries are point lookups")
    duckdb_memory_limit: str = Field("256MB")
    s3_endpoint_url: str | None = Field(None, description="e.g. a moto server in tests")
    s3_region: str | None = None
    s3_connect_timeout_s: float = Field(2.0, gt=0)
    # Per socket read, not per download. Sized so every attempt against a hung S3 plus backoff ends before
    # the Lambda timeout (template.yaml: 20 s), as a JSON 503 rather than an API Gateway timeout:
    # 3 x 4 s + at most 3 s of backoff. S3 sends its first byte in well under a second.
    s3_read_timeout_s: float = Field(4.0, gt=0)
    s3_max_attempts: int = Field(3, ge=1, description="botocore total attempts, with its standard backoff")
    # The whole fetch (manifest, artifact, every retry) ends by this: an object trickling in (each piece inside
    # the read timeout) otherwise outlives the Lambda. Worst case deadline + connect + read timeout = 18 s,
    # below template.yaml's 20 s, so the answer is our JSON 503 s3_unavailable.
    s3_deadline_s: float = Field(12.0, gt=0, description="deadline of one whole S3 download, retries included")
    # DynamoDB mode. Without an endpoint here boto3 honours AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL.
    dynamodb_endpoint_url: str | None = Field(None, description="e.g. a moto server in tests")
    dynamodb_region: str | None = None
    dynamodb_connect_timeout_s: float = Field(1.0, gt=0)
    # A GetItem answers in milliseconds; 3 attempts x 2 s plus botocore's backoff stay under the Lambda timeout.
    dynamodb_read_timeout_s: float = Field(2.0, gt=0)
    dynamodb_max_attempts: int = Field(3, ge=1,
                                       description="botocore total attempts (throttling included), standard backoff")
    # `latentlens publish dynamodb --rollback` keeps the table it leaves for --grace (default 5x this), so a warm
    # container serves its table until it follows the pointer, never a deleted one.
    dynamodb_pointer_cache_s: float = Field(table_layout.POINTER_CACHE_S, ge=0,
                                            description="a warm container re-reads the pointer at most this often "
                                                        "and follows it to a newly published or rolled-back build")
    # Events in (POST /events, docs/events.md). Off unless a store is named: the route answers 503 events_disabled.
    events: str | None = Field(None, description="event store: a file path (SQLite) or dynamodb://TABLE; "
                                                 "none: POST /events answers 503 events_disabled")
    # Events of a user_id (not a session) need this key in X-LatentLens-Key; with none set, only session events.
    events_key: SecretStr | None = Field(None, description="the key user events need (16+ characters)")
    events_retention_days: int = Field(365, ge=1, description="DynamoDB: the TTL of an event, from its arrival")
    events_busy_timeout_s: float = Field(5.0, gt=0, description="SQLite: how long a write waits for another "
                                                                "process's before the request is a 503")

    # An A/B experiment (docs/api.md, A/B experiments): people in its challenger arm get the challenger's lists.
    experiment: str | None = Field(None, pattern=ID_PATTERN,
                                   description="the running experiment's name (1-64 of A-Z a-z 0-9 _ -); "
                                               "none: every answer is the champion's")
    experiment_share: float = Field(0.5, gt=0, lt=1, description="the share of people in the challenger arm")
    experiment_salt: str = Field("", max_length=200, description="a new salt gives a new experiment new arms")

    @field_validator("events", "events_key", "experiment", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """An empty variable (template.yaml's default, `LATENTLENS_EVENTS=`) means not set."""
        return None if value == "" else value

    @field_validator("events_key")
    @classmethod
    def _long_key(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and len(key.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters, e.g. from "
                             "python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once per process."""
    return Settings()
