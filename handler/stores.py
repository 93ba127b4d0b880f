"""The store `settings.db` names: `dynamodb://<name>` a table published to DynamoDB, anything else a
DuckDB file (a path, or `s3://bucket/key`). Both implement latentlens.handler.store.Store. And the audience
its reads carry: the event store `settings.events` names and the experiment."""

from __future__ import annotations

from latentlens.handler.audience import NOBODY, Audience, experiment_of
from latentlens.handler.duckdb_store import DuckDBStore
from latentlens.handler.events.store import EventStore
from latentlens.handler.settings import Settings
from latentlens.handler.store import Store


def make_store(settings: Settings, audience: Audience = NOBODY) -> Store:
    """A store over `settings.db` whose reads carry `audience` (whose events are folded into lists, and the
    experiment); nothing is opened until its first use."""
    if settings.db.startswith("dynamodb://"):
        from latentlens.handler.dynamodb import DynamoDBStore  # only DynamoDB mode loads its module

        return DynamoDBStore(settings, audience=audience)
    return DuckDBStore(settings, audience)


def audience_for(settings: Settings, events: EventStore | None = None) -> Audience:
    """The audience of an app or Lens: `events` (default: the store `settings.events` names, opened on first use)
    and the experiment the settings name."""
    if events is None and settings.events:
        from latentlens.handler.events.stores import open_event_store

        events = open_event_store(settings.events, settings)
    return Audience(events, experiment_of(settings), settings.retry_interval_s)
