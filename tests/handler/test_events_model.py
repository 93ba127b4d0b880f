"""The event format (handler/events/model.py): what a body may hold, and the messages naming index and field."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from latentlens.handler.events.model import (
    MAX_BATCH,
    Event,
    EventsInvalid,
    Person,
    body_schema,
    parse_events,
    record,
)

GOOD = {"session_id": "s-1_A", "movie_id": 858, "type": "rating", "rating": 4.5}


def body(value: object) -> bytes:
    return json.dumps(value).encode()


def refused(value: object) -> str:
    with pytest.raises(EventsInvalid) as caught:
        parse_events(value if isinstance(value, bytes) else body(value))
    return caught.value.message


def test_one_event_or_a_list_of_up_to_25():
    one = parse_events(body(GOOD))
    assert one.single and one.events == [Event(**GOOD)]
    many = parse_events(body([GOOD] * MAX_BATCH))
    assert not many.single and len(many.events) == MAX_BATCH
    assert refused([GOOD] * (MAX_BATCH + 1)) == "body: a list of 1 to 25 events, not 26"
    assert refused([]) == "body: a list of 1 to 25 events, not 0"
    assert refused("a string").startswith("body: must be an event")
    assert refused(b"{not json").startswith("body: not JSON")
    assert refused(b'{"session_id": "s", "movie_id": NaN, "type": "click"}').startswith("body: not JSON")
    assert refused(b"\xff\xfe\x00garbage").startswith("body: not JSON")
    assert refused(b"[" * 8000 + b"]" * 8000).startswith("body: not JSON")  # nested past the parser's limit


@pytest.mark.parametrize(("change", "message"), [
    ({"session_id": None}, "body[1].session_id: give exactly one of user_id and session_id"),
    ({"user_id": 7}, "body[1].session_id: give exactly one of user_id and session_id"),
    ({"session_id": "a b"}, "body[1].session_id: String should match pattern"),
    ({"session_id": "x" * 65}, "body[1].session_id: String should match pattern"),
    ({"session_id": "abc\n"}, "body[1].session_id: String should match pattern"),  # no trailing newline either
    ({"session_id": ""}, "body[1].session_id: String should match pattern"),
    ({"movie_id": 0}, "body[1].movie_id: Input should be greater than or equal to 1"),
    ({"movie_id": 2**31}, "body[1].movie_id: Input should be less than or equal to 2147483647"),
    ({"movie_id": "858"}, "body[1].movie_id: Input should be a valid integer"),  # strict: no strings
    ({"movie_id": 858.0}, "body[1].movie_id: Input should be a valid integer"),
    ({"movie_id": True}, "body[1].movie_id: Input should be a valid integer"),
    ({"type": "purchase"}, "body[1].type: Input should be 'impression', 'click', 'rating' or 'dismiss'"),
    ({"rating": 4.3}, "body[1].rating: Input should be a multiple of 0.5"),
    ({"rating": 0}, "body[1].rating: Input should be greater than or equal to 0.5"),
    ({"rating": 5.5}, "body[1].rating: Input should be less than or equal to 5"),
    ({"rating": None}, "body[1].rating: a rating event needs rating"),
    ({"type": "click"}, "body[1].rating: only rating events carry a rating, not click"),
    ({"event_id": "id with spaces"}, "body[1].event_id: String should match pattern"),
    ({"recommendation_id": "r" * 65}, "body[1].recommendation_id: String should match pattern"),
    ({"at": "2026-01-31T12:00:00"}, "body[1].at: needs a time zone"),
    ({"at": "yesterday"}, "body[1].at: is not an ISO-8601 time"),
    ({"at": "1990-01-01T00:00:00Z"}, "body[1].at: is before 1995-01-01"),
    ({"at": True}, "body[1].at: must be an ISO-8601 time with a zone"),
    ({"ip": "192.0.2.1"}, "body[1].ip: Extra inputs are not permitted"),  # nothing personal is taken
    ({"user_agent": "Mozilla"}, "body[1].user_agent: Extra inputs are not permitted"),
])
def test_a_bad_event_is_named_by_index_and_field(change, message):
    bad = {**GOOD, **change}
    assert refused([GOOD, bad, GOOD]).startswith(message)
    assert refused(bad).startswith(message.replace("body[1]", "body"))  # one event: no index


def test_every_bad_event_of_a_batch_is_named_up_to_five():
    text = refused([GOOD, {**GOOD, "movie_id": 0}, GOOD, {**GOOD, "type": "x"}])
    assert text.startswith("body[1].movie_id:") and "; body[3].type:" in text
    text = refused([{**GOOD, "movie_id": -i} for i in range(8)])
    assert text.count("body[") == 5 and text.endswith("; and 3 more")


def test_at_is_iso_8601_with_a_zone_or_epoch_seconds_and_never_far_ahead():
    now = time.time()
    for given, expected in [
        ("2024-02-29T23:30:00+01:00", datetime(2024, 2, 29, 22, 30, tzinfo=UTC)),
        ("2024-02-29T22:30:00Z", datetime(2024, 2, 29, 22, 30, tzinfo=UTC)),
        (1_700_000_000, datetime.fromtimestamp(1_700_000_000, UTC)),
        (1_700_000_000.25, datetime.fromtimestamp(1_700_000_000.25, UTC)),
    ]:
        assert parse_events(body({**GOOD, "at": given})).events[0].at == expected
    assert parse_events(body({**GOOD, "at": now + 60})).events[0].at is not None  # a client clock a minute fast
    for ahead in (now + 3600, 1e12, -1):
        assert refused({**GOOD, "at": ahead}).startswith("body.at: ")


def test_a_record_has_the_server_time_and_an_id_when_the_client_gave_none():
    now = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    made = record(Event(**GOOD), now)
    assert made.at == now.replace(microsecond=123000) and made.at_ms == round(now.timestamp() * 1000)
    assert len(made.event_id) == 32 and made.event_id != record(Event(**GOOD), now).event_id
    assert made.person == Person(session_id="s-1_A") and made.person.key == "session:s-1_A"
    given = record(Event(**{**GOOD, "event_id": "mine", "at": "2025-01-01T00:00:00Z"}), now)
    assert given.event_id == "mine" and given.at == datetime(2025, 1, 1, tzinfo=UTC)
    assert Person.from_key("user:42") == Person(user_id=42)
    assert Person.from_key(Person(session_id="a:b").key) == Person(session_id="a:b")
    with pytest.raises(ValueError):
        Person()


def test_the_documented_body_schema_is_what_is_checked():
    schema = body_schema()
    event, batch = schema["anyOf"]
    assert batch == {"type": "array", "items": event, "minItems": 1, "maxItems": MAX_BATCH}
    assert event["additionalProperties"] is False and set(event["required"]) == {"movie_id", "type"}
    props = event["properties"]
    assert set(props) == {"user_id", "session_id", "movie_id", "type", "rating", "recommendation_id", "event_id", "at"}
    assert props["type"]["enum"] == ["impression", "click", "rating", "dismiss"]
    assert {"type": "string", "format": "date-time"} in props["at"]["anyOf"]
