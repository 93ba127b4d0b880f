"""Who asks for a list, as the lists that react see them: their rating events since the build (from the event
store, when one is configured) and their arm of the A/B experiment (when one runs).

One Audience is made per app (latentlens.handler.app) or latentlens.Lens from the settings
(latentlens.handler.stores.audience_for) and handed to the store, whose row sources carry it into every answer
(latentlens.handler.queries.RowSource.audience); so the routes and the Lens fold the same events and assign
the same arms. `NOBODY` is the audience of neither: no events folded, everyone the champion.

Reading events is the one read of a person's list that is not the artifact's, and it must never cost the list:
when the event store fails (a locked or vanished SQLite file, DynamoDB down or throttling), the answer is the
stored list without the fold, and the failure is logged. For `retry_interval_s` after a failure no read is tried,
so an outage costs one request per interval its timeouts and one log line, not every request.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache

from latentlens.handler.artifact import Artifact
from latentlens.handler.events.model import EARLIEST, EventType, Person, StoredEvent
from latentlens.handler.events.store import RECENT_LIMIT, EventStore, EventStoreUnavailable
from latentlens.handler.experiments import CHAMPION, Experiment, Variant
from latentlens.handler.settings import Settings

logger = logging.getLogger("latentlens.handler")

RATING_TYPES: tuple[EventType, ...] = ("rating",)


@lru_cache(maxsize=8)
def built_at(created_at: str) -> datetime:
    """When the build was made (build_info.created_at, ISO-8601): the events after it are the ones it has not
    learned from. Unreadable (a hand-made artifact), every event since EARLIEST counts."""
    try:
        when = datetime.fromisoformat(created_at)
    except ValueError:
        return EARLIEST
    return when if when.tzinfo is not None else EARLIEST


class Audience:
    """The event store a person's latest ratings are read from (None: none is), and the running experiment
    (None: none runs). Safe to share between threads."""

    def __init__(self, events: EventStore | None = None, experiment: Experiment | None = None,
                 retry_interval_s: float = 2.0, clock: Callable[[], float] | None = None) -> None:
        self.events, self.experiment, self.retry_interval_s = events, experiment, retry_interval_s
        self._clock = clock if clock is not None else time.monotonic
        self._quiet_until = float("-inf")  # after a failed read: no read before this (by _clock)
        self._told: set[str] = set()  # artifacts (by ETag) logged as having no challenger
        self._lock = threading.Lock()

    @property
    def folds_events(self) -> bool:
        """Whether a person's lists can change with their events (an event store is configured)."""
        return self.events is not None

    def arm(self, art: Artifact, person: Person) -> Variant:
        """The person's arm: the experiment's, or the champion when none runs. An artifact without challenger
        lists serves the champion to everyone (logged once per artifact): a challenger arm it cannot serve would
        be the champion under another name."""
        if self.experiment is None:
            return CHAMPION
        if not art.challenger:
            if art.etag not in self._told:
                with self._lock:
                    if art.etag not in self._told:
                        self._told.add(art.etag)
                        logger.warning("experiment %s: the artifact %s has no challenger lists; serving the "
                                       "champion to everyone (variant champion)", self.experiment.name, art.path)
            return CHAMPION
        return self.experiment.arm(person)

    def rating_events(self, art: Artifact, person: Person) -> list[StoredEvent]:
        """The person's rating events since the build, at most the latest RECENT_LIMIT, oldest first; [] without
        a store, and [] (logged) when the store fails."""
        if self.events is None or self._clock() < self._quiet_until:
            return []
        since = built_at(art.build_info.get("created_at", ""))
        try:
            return self.events.recent(person, since, types=RATING_TYPES, limit=RECENT_LIMIT)
        except EventStoreUnavailable as exc:
            self._quiet_until = self._clock() + self.retry_interval_s
            logger.warning("event store unreadable (%s): serving lists without events for %g s: %s", exc.reason,
                           self.retry_interval_s, exc.detail)
            return []

    def etag(self, art: Artifact) -> str:
        """The ETag of a person's list while no events can change it: the build's, and the experiment's settings
        when one runs (a new share or salt moves people between arms, so a cached list must not be reused)."""
        if self.experiment is None:
            return art.etag
        return _experiment_etag(art.etag, self.experiment)

    def close(self) -> None:
        """Let go of the event store's connections (the next read opens them again)."""
        if self.events is not None:
            self.events.close()


@lru_cache(maxsize=16)
def _experiment_etag(build_etag: str, experiment: Experiment) -> str:
    basis = f"{build_etag}\x00{experiment.name}\x00{experiment.challenger_share!r}\x00{experiment.salt}"
    return '"' + hashlib.sha256(basis.encode()).hexdigest()[:24] + '"'


NOBODY = Audience()


def experiment_of(settings: Settings) -> Experiment | None:
    """The experiment the settings name, or None."""
    if settings.experiment is None:
        return None
    return Experiment(settings.experiment, settings.experiment_share, settings.experiment_salt)
