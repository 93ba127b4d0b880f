"""The event store a URI names: `dynamodb://TABLE` a DynamoDB table, anything else a file path (SQLite). Both
implement latentlens.handler.events.store.EventStore."""

from __future__ import annotations

from latentlens.handler.events.store import EventStore
from latentlens.handler.settings import Settings

DYNAMODB_SCHEME = "dynamodb://"


def open_event_store(uri: str, settings: Settings) -> EventStore:
    """The store `uri` names; nothing is opened until its first use. `settings`: the handler's Settings
    (DynamoDB's endpoint and timeouts, SQLite's lock wait, the retention)."""
    if uri.startswith(DYNAMODB_SCHEME):
        from latentlens.handler.events.dynamodb_store import DynamoDBEventStore  # only DynamoDB mode loads boto3

        return DynamoDBEventStore(uri.removeprefix(DYNAMODB_SCHEME), settings)
    from latentlens.handler.events.sqlite_store import SQLiteEventStore

    return SQLiteEventStore(uri, busy_timeout_s=settings.events_busy_timeout_s)
