"""What an event is: the JSON a client posts to `POST /events`, its rules, and the record a store keeps.

A client sends one event or a list of up to MAX_BATCH; `parse_events` reads the raw body (at most
MAX_BODY_BYTES) and returns validated `Event`s, or raises EventsInvalid naming the index and the field
of the first events that break a rule. Nothing here stores anything: a batch is checked whole before
any store sees it, so a bad event stores nothing of its batch.

A stored event (`StoredEvent`) keeps ids, the movie, the type, the rating, the time and the
recommendation id only: nothing that names a person beyond the id the client chose (no IP address,
no user agent, no free text).
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from latentlens.handler.limits import ID_PATTERN, MAX_ID, MAX_STARS, MIN_STARS

EventType = Literal["impression", "click", "rating", "dismiss"]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
MAX_BATCH = 25  # events in one request
MAX_BODY_BYTES = 16 * 1024  # a request body over this is a 413, never read further
# `at` may be neither before MovieLens' first ratings (nothing a person does here is older) nor more than
# MAX_AHEAD_S past the server's clock (a client's clock may run a little fast; hours ahead is a bug).
EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)
MAX_AHEAD_S = 300.0
MAX_ERRORS_SHOWN = 5

TextId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class EventsInvalid(ValueError):
    """A body that is not a valid event or list of events; `message` names each bad index and field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _at(value: object) -> datetime | None:
    """`at` as ISO-8601 with a time zone, or epoch seconds (a JSON number): a UTC datetime within the bounds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be an ISO-8601 time with a zone (2026-01-31T12:00:00Z) or epoch seconds")
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("is not an ISO-8601 time, e.g. 2026-01-31T12:00:00Z") from None
        if when.tzinfo is None:
            raise ValueError("needs a time zone, e.g. 2026-01-31T12:00:00Z or +01:00")
    else:
        if not math.isfinite(value) or not 0 <= value < 1e11:
            raise ValueError("epoch seconds out of range")
        when = datetime.fromtimestamp(value, UTC)
    when = when.astimezone(UTC)
    if when < EARLIEST:
        raise ValueError(f"is before {EARLIEST:%Y-%m-%d}")
    if when.timestamp() > time.time() + MAX_AHEAD_S:
        raise ValueError(f"is more than {MAX_AHEAD_S:g} s in the future")
    return when


At = Annotated[datetime | None, BeforeValidator(_at), WithJsonSchema({
    "anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}, {"type": "null"}],
    "description": "ISO-8601 with a time zone, or epoch seconds; the server's time when absent",
})]


class Event(BaseModel):
    """One thing a person did with a movie. Exactly one of `user_id` (needs the deployment's key) and
    `session_id`; `rating` on rating events only, and required there."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    user_id: int | None = Field(None, ge=1, le=MAX_ID, description="a user id (needs X-LatentLens-Key)")
    session_id: TextId | None = Field(None, validate_default=True,
                                      description="a random id the client keeps, 1-64 of A-Z a-z 0-9 _ -")
    movie_id: int = Field(ge=1, le=MAX_ID, description="a movie of the served build")
    type: EventType
    rating: float | None = Field(None, ge=MIN_STARS, le=MAX_STARS, multiple_of=0.5, validate_default=True,
                                 description="stars, 0.5 to 5 in half stars: rating events only")
    recommendation_id: TextId | None = Field(None, description="the list answer this event came from")
    event_id: TextId | None = Field(None, description="the client's id: a repeat is acknowledged, not stored twice")
    at: At = None

    @field_validator("session_id")
    @classmethod
    def _one_person(cls, session_id: str | None, info: ValidationInfo) -> str | None:
        if "user_id" not in info.data:
            return session_id  # user_id itself failed, and says so
        if (info.data["user_id"] is None) == (session_id is None):
            raise ValueError("give exactly one of user_id and session_id")
        return session_id

    @field_validator("rating")
    @classmethod
    def _rating_for_ratings(cls, rating: float | None, info: ValidationInfo) -> float | None:
        kind = info.data.get("type")
        if kind == "rating" and rating is None:
            raise ValueError("a rating event needs rating (0.5 to 5 in half stars)")
        if kind is not None and kind != "rating" and rating is not None:
            raise ValueError(f"only rating events carry a rating, not {kind}")
        return rating


@dataclass(frozen=True)
class Person:
    """Whose events: a user id or a session id (exactly one). `key` is how the stores file them."""

    user_id: int | None = None
    session_id: str | None = None

    def __post_init__(self) -> None:
        if (self.user_id is None) == (self.session_id is None):
            raise ValueError("a person is a user_id or a session_id, exactly one")

    @property
    def key(self) -> str:
        return f"user:{self.user_id}" if self.user_id is not None else f"session:{self.session_id}"

    @classmethod
    def from_key(cls, key: str) -> Person:
        kind, _, value = key.partition(":")
        if kind == "user":
            return cls(user_id=int(value))
        if kind == "session":
            return cls(session_id=value)
        raise ValueError(f"not a person key: {key[:80]!r}")


@dataclass(frozen=True)
class StoredEvent:
    """An event as a store keeps it: its id (the client's or one made here), who, what, when (UTC, whole ms)."""

    event_id: str
    person: Person
    movie_id: int
    type: EventType
    rating: float | None
    recommendation_id: str | None
    at: datetime

    @property
    def at_ms(self) -> int:
        return round(self.at.timestamp() * 1000)

    @staticmethod
    def from_ms(at_ms: int) -> datetime:
        return datetime.fromtimestamp(at_ms / 1000, UTC)


def record(event: Event, now: datetime) -> StoredEvent:
    """The event to store: `now` when it has no time, a new id when it has none."""
    at = event.at or now
    return StoredEvent(event_id=event.event_id or uuid.uuid4().hex,
                       person=Person(event.user_id, event.session_id), movie_id=event.movie_id, type=event.type,
                       rating=event.rating, recommendation_id=event.recommendation_id,
                       at=StoredEvent.from_ms(round(at.timestamp() * 1000)))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _where(index: int | None, loc: tuple[Any, ...]) -> str:
    path = "body" if index is None else f"body[{index}]"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _problems(index: int | None, exc: ValidationError) -> list[str]:
    return [f"{_where(index, err['loc'])}: {str(err['msg']).removeprefix('Value error, ')}" for err in exc.errors()]


@dataclass(frozen=True)
class Batch:
    """The events of one request, valid, and whether the body was one event or a list (for messages)."""

    events: list[Event]
    single: bool

    def where(self, index: int, field: str) -> str:
        """How a message names an event's field: body.movie_id for one event, body[3].movie_id in a list."""
        return _where(None if self.single else index, (field,))


def parse_events(body: bytes) -> Batch:
    """One event (an object) or a list of 1..MAX_BATCH of them, every one valid; else EventsInvalid."""
    try:
        data = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise EventsInvalid(f"body: not JSON ({str(exc)[:120]})") from None
    single = isinstance(data, dict)
    items = [data] if single else data
    if not isinstance(items, list):
        raise EventsInvalid("body: must be an event (an object) or a list of events")
    if not 1 <= len(items) <= MAX_BATCH:
        raise EventsInvalid(f"body: a list of 1 to {MAX_BATCH} events, not {len(items)}")
    events, problems = [], []
    for index, item in enumerate(items):
        try:
            events.append(Event.model_validate(item))
        except ValidationError as exc:
            problems += _problems(None if single else index, exc)
    if problems:
        shown = problems[:MAX_ERRORS_SHOWN]
        more = len(problems) - len(shown)
        raise EventsInvalid("; ".join(shown) + (f"; and {more} more" if more else ""))
    return Batch(events, single)


def body_schema() -> dict[str, Any]:
    """The request body's JSON schema, for the OpenAPI document: an event or a list of 1..MAX_BATCH."""
    event = Event.model_json_schema()
    return {"anyOf": [event, {"type": "array", "items": event, "minItems": 1, "maxItems": MAX_BATCH}]}
