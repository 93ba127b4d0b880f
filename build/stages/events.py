"""Stage 1's second step, learn: the rating events of an event store folded into the ratings (`build --events`).

    learn_from_events(data, uri) -> (MovieLensData, LearnedEvents)

What people rated through the API (`POST /events`, docs/events.md) becomes training data of the next build:

- read: the store's `scan(types=["rating"])`, a file (SQLite, as `latentlens serve --events FILE` wrote it) or
  `dynamodb://TABLE`. A store that cannot be read is one line naming it and the problem (EventStoreError, exit 2),
  before anything is trained or written; a missing file is refused, never created.
- checked like the ratings file (build/data/loader.py): every rating on the release's scale and step, every movie
  in the build's catalogue (movies.csv, with the loader's placeholders for movies the ratings file rates: the
  served build has them too), times and ids in the loader's ranges. One bad event fails the build, naming it.
- ordered by the build's one rule (timestamp, ties by position in the ratings file), events coming after the
  file's ratings: an event's timestamp is its time in whole seconds, events are appended after the file's rows in
  time order (same millisecond: by person, then event_id), so at an equal second an event is the later rating.
- folded: the latest rating of each (person, movie) wins, an event over an earlier one, the dataset's own
  rating of a user_id included; a dataset rating later than every event of its pair stays.
- people: a user_id event is that user's rating (a new user when the dataset has none); a session is a user of its
  own, with an id above every user id of the dataset and the events, numbered by the session's first rating event
  (ties: session id order), so the same store gives the same ids. `session_users` maps the sha256 (hex) of each
  session id to its user id: the handler finds a session's list by it, and the artifact names no session.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from latentlens.build.data.errors import DataError
from latentlens.build.data.formats.reading import file_kind
from latentlens.build.data.tables import MAX_ID, MAX_TIMESTAMP, RATINGS_SCHEMA, MovieLensData
from latentlens.build.progress import get_logger

if TYPE_CHECKING:
    from latentlens.handler.events.model import EventType
    from latentlens.handler.events.store import EventStore

log = get_logger(__name__)

EVENTS_SCHEMA = {"event_id": pl.Utf8, "user_id": pl.Int64, "session_id": pl.Utf8, "movie_id": pl.Int64,
                 "rating": pl.Float64, "at_ms": pl.Int64}
SESSION_USERS_SCHEMA = {"session_sha256": pl.Utf8, "user_id": pl.Int32}
RATING_EVENTS: tuple[EventType, ...] = ("rating",)
_PAIR = (pl.col("user_id").cast(pl.Int64) * (1 << 32)) + pl.col("movie_id").cast(pl.Int64)


class EventStoreError(DataError):
    """An event store a build cannot learn from: the URI as given (dynamodb://TABLE is no path) and the problem."""

    def __init__(self, uri: str, problem: str) -> None:
        ValueError.__init__(self, f"--events {uri}: {problem}")
        self.path, self.line, self.problem, self.uri = Path(uri), None, problem, uri


@dataclass(frozen=True)
class LearnedEvents:
    """What a build took from its event store: build_info and MLflow record the counts."""

    uri: str | None = None
    read: int = 0           # rating events in the store
    used: int = 0           # of them, ratings in the training data (the latest of their person and movie)
    sessions: int = 0       # sessions trained as users of their own
    seconds: float = 0.0    # reading, checking and folding
    session_users: pl.DataFrame | None = None  # session_sha256 -> user_id (SESSION_USERS_SCHEMA); None: none

    def params(self) -> dict[str, object]:
        """The parent MLflow run's params beside `events_used` (build/pipeline.py logs that one on every engine)."""
        return {"events": self.uri or "", "events_read": self.read, "events_sessions": self.sessions}


def learn_from_events(data: MovieLensData, uri: str | None) -> tuple[MovieLensData, LearnedEvents]:
    """`data` with the store's rating events folded into its ratings (the module docstring has the rules)."""
    if uri is None:
        return data, LearnedEvents()
    started = time.perf_counter()
    events = ordered(read_rating_events(uri))
    check_events(events, data, uri)
    events, sessions = with_user_ids(events, data, uri)
    ratings, used = fold(data.ratings, events)
    learned = LearnedEvents(uri, events.height, used, sessions.height, time.perf_counter() - started,
                            sessions if sessions.height else None)
    note = (f"{used} of {events.height} rating events of {uri} folded into the ratings "
            f"({sessions.height} sessions as users of their own)")
    log.info("%s in %.2f s", note, learned.seconds)
    return replace(data, ratings=ratings, notes=(*data.notes, note)), learned


def open_store(uri: str) -> EventStore:
    """The store `uri` names, for reading: a file must already be a non-empty regular file (the SQLite store creates
    a missing one, which a build must not)."""
    from pydantic import ValidationError

    from latentlens.handler.events.stores import DYNAMODB_SCHEME, open_event_store
    from latentlens.handler.settings import Settings

    if not uri.startswith(DYNAMODB_SCHEME):
        kind = file_kind(Path(uri))
        if kind is None:
            raise EventStoreError(uri, "no such file (an event store is the file `latentlens serve --events FILE` "
                                       "writes, or dynamodb://TABLE)")
        if kind:
            raise EventStoreError(uri, f"not an event store file (it is {kind})")
        if os.path.getsize(uri) == 0:
            raise EventStoreError(uri, "an empty file, not an event store")
    try:
        settings = Settings()  # DynamoDB's endpoint, region and timeouts: the handler's LATENTLENS_DYNAMODB_*
    except ValidationError as exc:  # a LATENTLENS_* variable out of its bounds (its value is never shown)
        first = exc.errors()[0]
        raise EventStoreError(uri, f"LATENTLENS_{str(first['loc'][0]).upper()}: {first['msg']}") from None
    return open_event_store(uri, settings)


def read_rating_events(uri: str) -> pl.DataFrame:
    """Every rating event of the store (EVENTS_SCHEMA), in the order read."""
    from latentlens.handler.events.store import EventStoreUnavailable

    store = open_store(uri)
    try:
        rows = [(e.event_id, e.person.user_id, e.person.session_id, e.movie_id, e.rating, e.at_ms)
                for e in store.scan(types=RATING_EVENTS)]
    except EventStoreUnavailable as exc:
        raise EventStoreError(uri, "cannot be read as an event store: "
                                   + exc.detail.removeprefix(f"SQLite event store {uri}: ")) from None
    except (KeyError, TypeError, ValueError) as exc:  # an item no store wrote: a missing or mistyped attribute
        raise EventStoreError(uri, f"holds an item that is not an event ({type(exc).__name__}: {exc})") from None
    finally:
        store.close()
    return pl.DataFrame(rows, schema=EVENTS_SCHEMA, orient="row")


def ordered(events: pl.DataFrame) -> pl.DataFrame:
    """Events in the build's order: time (ms), then who (users first, by id; sessions by id), then event_id."""
    return events.sort(["at_ms", "user_id", "session_id", "event_id"], nulls_last=True)


def check_events(events: pl.DataFrame, data: MovieLensData, uri: str) -> None:
    """Refuse the store at the first event (in the build's order) that the ratings file could not hold."""
    low, high = data.rating_scale
    steps = (pl.col("rating") - low) / data.rating_step
    movies = data.movies["movie_id"].cast(pl.Int64).implode()
    person = pl.col("user_id").is_null() == pl.col("session_id").is_null()
    rules = [
        (person, "person that is not exactly one of user_id and session_id"),
        (~pl.col("user_id").is_between(1, MAX_ID), f"user id out of the range 1..{MAX_ID}"),
        (pl.col("rating").is_null() | pl.col("rating").is_nan() | ~pl.col("rating").is_between(low, high)
         | (steps.round() != steps), f"rating not on the scale {low:g}..{high:g} in steps of {data.rating_step:g}"),
        (~pl.col("movie_id").is_in(movies), f"movie not in {data.name}'s catalogue (movies.csv)"),
        (~pl.col("at_ms").is_between(0, MAX_TIMESTAMP * 1000 + 999), "time outside 1970..9999"),
    ]
    for broken, problem in rules:
        bad = events.filter(broken.fill_null(False))
        if bad.height:
            first = bad.row(0, named=True)
            who = f"user {first['user_id']}" if first["user_id"] is not None else "a session"
            raise EventStoreError(uri, f"{bad.height} rating event(s) with a {problem}; the first: event "
                                       f"{first['event_id']} of {who}, movie {first['movie_id']}, "
                                       f"rating {first['rating']}")


def with_user_ids(events: pl.DataFrame, data: MovieLensData, uri: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The events with the user id each trains as (a session's: above every user id of the dataset and the events,
    by the session's first event, then its id); and session_users (SESSION_USERS_SCHEMA)."""
    top = max(data.ratings.select(pl.col("user_id").max()).item() or 0,
              events.select(pl.col("user_id").max()).item() or 0)
    sessions = (events.filter(pl.col("session_id").is_not_null())
                .group_by("session_id").agg(pl.col("at_ms").min().alias("first_ms"))
                .sort(["first_ms", "session_id"]))
    if top + sessions.height > MAX_ID:
        raise EventStoreError(uri, f"{sessions.height} sessions do not fit above user id {top} (ids are 1..{MAX_ID})")
    ids = dict(zip(sessions["session_id"].to_list(), range(top + 1, top + 1 + sessions.height), strict=True))
    events = events.with_columns(pl.coalesce("user_id", pl.col("session_id").replace_strict(
        ids, default=None, return_dtype=pl.Int64)).alias("user_id"))
    session_users = pl.DataFrame({"session_sha256": [session_sha256(s) for s in ids], "user_id": list(ids.values())},
                                 schema=SESSION_USERS_SCHEMA)
    return events, session_users


def session_sha256(session_id: str) -> str:
    """How the artifact names a session: the sha256 (hex) of its id's UTF-8 bytes (schema.SESSION_USERS)."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def fold(ratings: pl.DataFrame, events: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """The ratings with the events' folded in, and how many events are among them: per (user, movie) the latest
    rating wins, an event over the file's at an equal second; events are appended after the file's rows in their
    order (`ordered`), so the order rule (timestamp, ties by position) reads them as the later ratings."""
    rows = events.select(pl.col("user_id").cast(pl.Int32), pl.col("movie_id").cast(pl.Int32),
                         pl.col("rating").cast(pl.Float32), (pl.col("at_ms") // 1000).alias("timestamp"))
    latest = rows.filter(_PAIR.is_last_distinct())  # in time order: the last of a pair is its latest
    pairs = latest.select(_PAIR.alias("pair"), "timestamp")
    met = ratings.select(_PAIR.is_in(pairs["pair"].implode())).to_series()
    if met.any():
        file_times = ratings.filter(met).select(_PAIR.alias("pair"), pl.col("timestamp").alias("file_timestamp"))
        file_later = (pairs.join(file_times, on="pair")
                      .filter(pl.col("file_timestamp") > pl.col("timestamp"))["pair"].implode())
        ratings = ratings.filter(~(met & ~ratings.select(_PAIR.is_in(file_later)).to_series()))
        latest = latest.filter(~_PAIR.is_in(file_later))
    kept = latest.select(ratings.columns).cast(RATINGS_SCHEMA)  # type: ignore[arg-type]  # polars#14468
    return pl.concat([ratings, kept]), kept.height
