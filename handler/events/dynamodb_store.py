"""The event store on AWS: one DynamoDB table (`dynamodb://TABLE`), declared in template.yaml.

Layout (template.yaml's EventsTable declares the same; tests/infra/test_template.py compares them):
- key: `person` (S, `user:<id>` or `session:<id>`) and `event_id` (S). Storing an event is a PutItem on
  the condition that no item has its key, so a repeated event id is refused by DynamoDB itself and
  reported as a duplicate; a batch of several is one TransactWriteItems of such puts (all or nothing),
  retried without the items that turned out to be duplicates.
- the local secondary index `by_type_time` on (`person`, `type_at`), `type_at` being `<type>#<epoch ms,
  15 digits>`: one Query per type reads a person's latest events of that type since a time, newest first,
  strongly consistent (what a 202 acknowledged is read back).
- `expires_at` (N, epoch seconds): the table's TTL attribute, `events_retention_days` after the event was
  received; DynamoDB deletes the item some time after.

The function's role may PutItem on the table and Query its index, nothing else: no route, and no
credential the API holds, lists or returns the stored events.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

from latentlens.handler.events.model import EVENT_TYPES, EventType, Person, StoredEvent
from latentlens.handler.events.store import RECENT_LIMIT, EventStoreUnavailable, check_limit
from latentlens.handler.settings import Settings

logger = logging.getLogger("latentlens.handler")

PERSON, EVENT_ID, TYPE_AT, AT_MS, EXPIRES_AT = "person", "event_id", "type_at", "at_ms", "expires_at"
INDEX = "by_type_time"
SCAN_PAGE = 1000  # items a Scan reads per page (before the type filter)
_NOT_THERE = f"attribute_not_exists({PERSON})"
_THROTTLED = {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
              "ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict"}


def type_at(kind: str, at_ms: int) -> str:
    """The index's sort key: the type, then the time in a fixed width so text order is time order."""
    return f"{kind}#{at_ms:015d}"


def item_of(event: StoredEvent, expires_at: int) -> dict[str, dict[str, str]]:
    item: dict[str, dict[str, str]] = {PERSON: {"S": event.person.key}, EVENT_ID: {"S": event.event_id},
            "movie_id": {"N": str(event.movie_id)}, "type": {"S": event.type},
            TYPE_AT: {"S": type_at(event.type, event.at_ms)}, AT_MS: {"N": str(event.at_ms)},
            EXPIRES_AT: {"N": str(expires_at)}}
    if event.rating is not None:
        item["rating"] = {"N": repr(event.rating)}
    if event.recommendation_id is not None:
        item["recommendation_id"] = {"S": event.recommendation_id}
    return item


def stored_of(item: dict[str, Any]) -> StoredEvent:
    return StoredEvent(event_id=item[EVENT_ID]["S"], person=Person.from_key(item[PERSON]["S"]),
                       movie_id=int(item["movie_id"]["N"]), type=item["type"]["S"],
                       rating=float(item["rating"]["N"]) if "rating" in item else None,
                       recommendation_id=item.get("recommendation_id", {}).get("S"),
                       at=StoredEvent.from_ms(int(item[AT_MS]["N"])))


class DynamoDBEventStore:
    """Events in one DynamoDB table (see the module docstring)."""

    def __init__(self, table: str, settings: Settings, client: Any = None) -> None:
        self.table = table
        self.uri = f"dynamodb://{table}"
        self.settings = settings
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from latentlens.handler.dynamodb import client_for  # bounded timeouts and retries, as the artifact's

            self._client = client_for(self.settings)
        return self._client

    def _unavailable(self, exc: Exception, doing: str) -> EventStoreUnavailable:
        from botocore.exceptions import ClientError

        code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else type(exc).__name__
        reason = "events_throttled" if code in _THROTTLED else "events_unavailable"
        return EventStoreUnavailable(reason, f"DynamoDB {doing} on {self.table} failed ({code or 'error'})")

    def put(self, events: Sequence[StoredEvent]) -> list[bool]:
        from botocore.exceptions import BotoCoreError, ClientError

        expires = int(time.time()) + self.settings.events_retention_days * 86_400
        stored = [False] * len(events)
        first: dict[tuple[str, str], int] = {}
        for i, event in enumerate(events):  # a repeat inside the batch is a duplicate of its first
            first.setdefault((event.person.key, event.event_id), i)
        pending = sorted(first.values())
        items = {i: item_of(events[i], expires) for i in pending}
        try:
            if len(pending) == 1:
                stored[pending[0]] = self._put_one(items[pending[0]])
            else:
                for i in self._put_many(items, pending):
                    stored[i] = True
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(exc, "write") from None
        return stored

    def _put_one(self, item: dict) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.put_item(TableName=self.table, Item=item, ConditionExpression=_NOT_THERE)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _put_many(self, items: dict[int, dict], pending: list[int]) -> list[int]:
        """One transaction of conditional puts; the items DynamoDB finds already stored are dropped and the rest
        tried again (each round drops at least one). Returns the indices stored now."""
        from botocore.exceptions import ClientError

        while pending:
            puts = [{"Put": {"TableName": self.table, "Item": items[i], "ConditionExpression": _NOT_THERE}}
                    for i in pending]
            try:
                self.client.transact_write_items(TransactItems=puts)
                return pending
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                codes = [r.get("Code") or "None" for r in exc.response.get("CancellationReasons") or []]
                if len(codes) != len(pending) or any(c not in ("None", "ConditionalCheckFailed") for c in codes):
                    worst = next((c for c in codes if c not in ("None", "ConditionalCheckFailed")), "unknown")
                    reason = "events_throttled" if worst in _THROTTLED else "events_unavailable"
                    raise EventStoreUnavailable(reason, f"DynamoDB cancelled a write to {self.table} ({worst})") \
                        from None
                pending = [i for i, code in zip(pending, codes, strict=True) if code == "None"]
        return []

    def recent(self, person: Person, since: datetime, *, types: Collection[EventType] = EVENT_TYPES,
               limit: int = RECENT_LIMIT) -> list[StoredEvent]:
        from botocore.exceptions import BotoCoreError, ClientError

        check_limit(limit)
        since_ms = max(0, round(since.timestamp() * 1000))
        items: list[dict] = []
        try:
            for kind in (t for t in EVENT_TYPES if t in types):
                reply = self.client.query(
                    TableName=self.table, IndexName=INDEX, ConsistentRead=True, ScanIndexForward=False, Limit=limit,
                    KeyConditionExpression="#p = :p AND #k BETWEEN :lo AND :hi",
                    ExpressionAttributeNames={"#p": PERSON, "#k": TYPE_AT},
                    ExpressionAttributeValues={":p": {"S": person.key}, ":lo": {"S": type_at(kind, since_ms)},
                                               ":hi": {"S": f"{kind}#~"}})
                items += reply.get("Items", [])
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(exc, "query") from None
        events = sorted((stored_of(item) for item in items), key=lambda e: (e.at_ms, e.event_id))
        return events[-limit:]

    def scan(self, types: Collection[EventType] = EVENT_TYPES) -> Iterator[StoredEvent]:
        """A paginated Scan of the whole table (a right the function's role does not have: the build's and the
        experiment report's credentials need dynamodb:Scan), filtered to these `types`."""
        from botocore.exceptions import BotoCoreError, ClientError

        kinds = [t for t in EVENT_TYPES if t in types]
        values = {f":t{i}": {"S": kind} for i, kind in enumerate(kinds)}
        request: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True, "Limit": SCAN_PAGE,
                                   "FilterExpression": f"#t IN ({', '.join(values)})",
                                   "ExpressionAttributeNames": {"#t": "type"}, "ExpressionAttributeValues": values}
        while kinds:
            try:
                reply = self.client.scan(**request)
            except (BotoCoreError, ClientError) as exc:
                raise self._unavailable(exc, "scan") from None
            yield from (stored_of(item) for item in reply.get("Items", []))
            if "LastEvaluatedKey" not in reply:
                return
            request["ExclusiveStartKey"] = reply["LastEvaluatedKey"]

    def check(self) -> None:
        """One Query (what the function may do): the table and its index are there and readable."""
        self.recent(Person(session_id="check"), StoredEvent.from_ms(0), types=EVENT_TYPES[:1], limit=1)

    def close(self) -> None:
        self._client = None
