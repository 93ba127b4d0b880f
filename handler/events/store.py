"""The event store interface: what every store promises (latentlens.handler.events.stores.open_event_store picks
one from a URI; this module imports neither store).

Two stores implement `EventStore`: a file (SQLite, latentlens.handler.events.sqlite_store) for
`latentlens serve`, and `dynamodb://TABLE` (latentlens.handler.events.dynamodb_store) for Lambda. Routes,
and the later readers (lists that fold in a person's latest ratings, `build --events`), use this module only.

Both promise the same:
- `put` stores a batch whole or not at all, and returns only once the batch is durable (SQLite: committed
  and fsynced; DynamoDB: acknowledged by DynamoDB). An event whose (person, event_id) is already stored is
  left as it was and reported as a duplicate (False), so a client may resend a batch it got no answer for.
- `recent` reads one person's events at or after a time, the latest `limit` of them, in time order.
- `scan` reads every event of some types, for offline readers (the build, experiment reports).
- A store that cannot be used raises EventStoreUnavailable with a public reason; the details go to the log.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import Protocol, runtime_checkable

from latentlens.handler.events.model import EVENT_TYPES, EventType, Person, StoredEvent

RECENT_LIMIT = 50  # what `recent` returns at most, unless asked for fewer

PUBLIC_MESSAGES = {
    "events_disabled": "events are off here: start the server with --events URI (or set LATENTLENS_EVENTS)",
    "events_unavailable": "the event store cannot be written right now; nothing of this request was stored",
    "events_throttled": "the event store is throttling writes; nothing of this request was stored, try again shortly",
}


class EventStoreUnavailable(Exception):
    """The store cannot be read or written now: `reason` is public (a key of PUBLIC_MESSAGES), `detail` is logged."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@runtime_checkable
class EventStore(Protocol):
    """Where events go, and how one person's latest come back."""

    uri: str

    def put(self, events: Sequence[StoredEvent]) -> list[bool]:
        """Store the batch whole or not at all; per event, True if stored now, False if its (person, event_id)
        was already there. Returns once durable; EventStoreUnavailable when nothing was stored."""
        ...

    def recent(self, person: Person, since: datetime, *, types: Collection[EventType] = EVENT_TYPES,
               limit: int = RECENT_LIMIT) -> list[StoredEvent]:
        """`person`'s events of these `types` at or after `since`: the latest `limit`, oldest first (events of the
        same millisecond in no promised order). Reads what every acknowledged `put` stored."""
        ...

    def scan(self, types: Collection[EventType] = EVENT_TYPES) -> Iterator[StoredEvent]:
        """Every stored event of these `types`, in pages, in no promised order: for readers of the whole store
        (`build --events`, `experiment report`), never for the API, whose role may not read the table whole."""
        ...

    def check(self) -> None:
        """Open the store now (creating a local one), or raise EventStoreUnavailable saying why it cannot be used."""
        ...

    def close(self) -> None:
        """Finish the writes in progress and let go of connections; the next use opens them again."""
        ...


def check_limit(limit: int) -> None:
    if not 1 <= limit <= RECENT_LIMIT:
        raise ValueError(f"limit must be from 1 to {RECENT_LIMIT}, not {limit}")


@runtime_checkable
class SubmitsWrites(Protocol):
    """A store that takes a batch without a thread waiting for it (the SQLite store's group-commit writer)."""

    def submit(self, events: Sequence[StoredEvent]) -> Future[list[bool]]:
        """`put` without waiting: a future answered once the batch is durable (or failed)."""
        ...


async def put_async(store: EventStore, events: Sequence[StoredEvent]) -> list[bool]:
    """`store.put` from the event loop: awaiting the store's own future when it has one, else on a worker thread
    (a DynamoDB call blocks). Measured on POST /events: the thread hop cost about a tenth of the request's CPU."""
    import asyncio

    from starlette.concurrency import run_in_threadpool

    if isinstance(store, SubmitsWrites):
        return await asyncio.wrap_future(store.submit(events))
    return await run_in_threadpool(store.put, events)
