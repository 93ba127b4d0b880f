"""The store `settings.db` names: `dynamodb://<name>` a table published to DynamoDB, anything else a
DuckDB file (a path, or `s3://bucket/key`). Both implement latentlens.handler.store.Store."""

from __future__ import annotations

from latentlens.handler.duckdb_store import DuckDBStore
from latentlens.handler.settings import Settings
from latentlens.handler.store import Store


def make_store(settings: Settings) -> Store:
    """A store over `settings.db`; nothing is opened until its first use."""
    if settings.db.startswith("dynamodb://"):
        from latentlens.handler.dynamodb import DynamoDBStore  # only DynamoDB mode loads its module

        return DynamoDBStore(settings)
    return DuckDBStore(settings)
