"""When a synthetic user rates what they chose: sessions, slow taste drift, release waves.

Real MovieLens order carries signal an order-blind model cannot use: people rate in bursts of
seconds (half of ml-latest-small's users in one sitting), one burst tends to stay with one taste
and era, tastes move slowly across sittings, and a movie is rated only after its release, most
near it. build/data/synth.py draws *which* movies a user rates; this module draws the calendar
(release years, each user's session start times) and, per block of users, *in what order and
when*. A user's taste rows (the clusters they chose movies through) each get a place on the
user's timeline, so the clusters drift in and out; inside one row the movies follow a chain (a
per-row direction in factor space blended with release year), so what comes next after a movie is
more than what co-occurs with it. All vectorised; deterministic from the generator's streams.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentlens.build.data.synth_follows import follow_order
from latentlens.build.data.synth_settings import SynthSettings

YEAR = 31_557_600            # seconds in a Julian year
EPOCH_YEAR = 1970


@dataclass(frozen=True)
class Calendar:
    """Release years and every user's sessions (start times, flat; user u's are offset[u]:offset[u + 1])."""

    year: np.ndarray             # int32 release year per movie
    release: np.ndarray          # int64 release time per movie (seconds, may be before 1970)
    session_offset: np.ndarray   # int64 (n_users + 1,)
    session_start: np.ndarray    # int64 start time of each session, ascending per user

    def user_end(self) -> np.ndarray:
        """The start of each user's last session: no movie released after it is chosen."""
        return self.session_start[self.session_offset[1:] - 1]


def draw_calendar(s: SynthSettings, counts: np.ndarray, first: int, last: int) -> Calendar:
    """Release years (ages back from the last year: a minimum plus an exponential) and each user's sessions:
    1 + floor(lognormal) of them (ml-latest-small: half the users rate in one sitting), days apart (lognormal)."""
    rng = np.random.default_rng([s.seed, 3])
    last_year = EPOCH_YEAR + last // YEAR
    age = np.floor(s.release_min_age + rng.exponential(s.release_age_years, s.n_movies))
    year = np.clip(last_year - age, 1902, last_year)
    release = ((year - EPOCH_YEAR) * YEAR + rng.uniform(0, YEAR, s.n_movies)).astype(np.int64)
    n_sessions = np.minimum(1 + np.floor(rng.lognormal(0.0, s.sessions_sigma, s.n_users)).astype(np.int64),
                            np.maximum(counts // 2, 1))
    offset = np.concatenate(([0], np.cumsum(n_sessions)))
    first_of = np.zeros(int(offset[-1]), dtype=bool)
    first_of[offset[:-1]] = True
    gaps = np.where(first_of, 0.0, 3600 + rng.lognormal(np.log(s.session_gap_days * 86_400), s.session_gap_sigma,
                                                        first_of.size))
    since = np.cumsum(gaps)
    since -= np.repeat(since[offset[:-1]], n_sessions)        # each user's sessions from their first
    room = float(last - first - 86_400)
    span = since[offset[1:] - 1]
    squeeze = np.minimum(1.0, room / np.maximum(span, 1.0))  # a span longer than the calendar is compressed
    since *= np.repeat(squeeze, n_sessions)
    start = first + rng.random(s.n_users) * (room - span * squeeze)
    return Calendar(year.astype(np.int32), release, offset, (np.repeat(start, n_sessions) + since).astype(np.int64))


def acceptance(s: SynthSettings, user_end: np.ndarray, release: np.ndarray) -> np.ndarray:
    """How likely a drawn movie is kept: prerelease_keep if released after the user's last session (a few
    "rated before release" ratings, as festival screenings and data errors give real files), else a floor plus a
    wave that fades with the movie's age then (movies are rated most near their release)."""
    age = (user_end - release) / YEAR
    wave = s.release_floor + (1 - s.release_floor) * np.exp(-np.maximum(age, 0.0) / s.release_wave_years)
    return np.where(age >= 0, wave, s.prerelease_keep)


def expected_acceptance(s: SynthSettings, user_end: np.ndarray, release: np.ndarray,
                        weight: np.ndarray) -> np.ndarray:
    """Each user's `acceptance` averaged over movies weighted by `weight` (popularity): how many more draws the
    sampler needs. Closed form over the movies sorted by release, no (users x movies) array."""
    by_release = np.argsort(release)
    rel, w = release[by_release], weight[by_release] / weight.sum()
    tau = s.release_wave_years * YEAR
    latest = float(rel[-1])
    available = np.concatenate(([0.0], np.cumsum(w)))
    waved = np.concatenate(([0.0], np.cumsum(w * np.exp((rel - latest) / tau))))
    n = np.searchsorted(rel, user_end, side="right")
    wave = waved[n] * np.exp(np.minimum((latest - user_end) / tau, 50.0))
    return s.release_floor * available[n] + (1 - s.release_floor) * wave + s.prerelease_keep * (1 - available[n])


def order_and_time(rng: np.random.Generator, s: SynthSettings, calendar: Calendar, chain: np.ndarray,
                   follows: np.ndarray, weight: np.ndarray, local: np.ndarray, user: np.ndarray, item: np.ndarray,
                   row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, time): the permutation putting the (user, item, row) draws in each user's rating order, and each
    draw's timestamp. `local` is the user's position in the block, `chain` the (rows, movies) chain position,
    `follows` the successor table (build/data/synth_follows.py), walked inside each session, `weight` the
    movies' popularity (popular_first)."""
    n_local = int(local.max()) + 1 if local.size else 0
    place = rng.random((n_local, chain.shape[0]))              # where each taste row sits in the user's timeline
    way = np.where(rng.random((n_local, chain.shape[0])) < s.chain_reverse, -1.0, 1.0)  # which way they walk it
    enter = rng.random((n_local, chain.shape[0]))                # where they join the row's cycle
    walk = np.mod(way[local, row] * (chain[row, item] - enter[local, row]), 1.0)
    key = place[local, row] + s.drift_spread * (walk + s.chain_noise * rng.standard_normal(item.size))
    if s.popular_first:  # popular movies earlier, as on ml-latest-small (mean log popularity falls along a history)
        log_pop = np.log(np.maximum(weight, weight[weight > 0].min()))
        key -= s.popular_first * ((log_pop - log_pop.mean()) / log_pop.std())[item]
    lo = np.full(n_local, np.inf)
    hi = np.full(n_local, -np.inf)
    np.minimum.at(lo, local, key)
    np.maximum.at(hi, local, key)
    scaled = (key - lo[local]) / np.maximum(hi[local] - lo[local], 1e-12)
    first = calendar.session_offset[user]
    n_sessions = calendar.session_offset[user + 1] - first
    session = first + np.minimum((scaled * n_sessions).astype(np.int64), n_sessions - 1)
    # no rating before the release: move to the user's first session at or after it
    flat = calendar.session_start + np.repeat(np.arange(calendar.session_offset.size - 1, dtype=np.int64),
                                              np.diff(calendar.session_offset)) * (1 << 32)
    released = np.searchsorted(flat, np.maximum(calendar.release[item], 0) + user * (1 << 32), side="left")
    session = np.maximum(session, np.minimum(released, calendar.session_offset[user + 1] - 1))
    order = np.lexsort((key, session))
    order = order[follow_order(rng, s, follows, session[order], row[order], item[order])]
    return order, _session_times(rng, s, calendar, session[order])[np.argsort(order)]


def _session_times(rng: np.random.Generator, s: SynthSettings, calendar: Calendar, session: np.ndarray) -> np.ndarray:
    """Timestamps of ratings already in order, `session` their sessions: the session's start, then gaps of seconds
    (lognormal), a share of them 0 (several ratings in one second, as on the real file)."""
    gap = rng.lognormal(np.log(s.within_gap_seconds), s.within_gap_sigma, session.size)
    gap[rng.random(session.size) < s.same_second] = 0.0
    opens = np.ones(session.size, dtype=bool)
    opens[1:] = session[1:] != session[:-1]
    gap[opens] = 0.0
    total = np.cumsum(gap)
    since = total - total[np.flatnonzero(opens)][np.cumsum(opens) - 1]
    return calendar.session_start[session] + since.astype(np.int64)


def chain_positions(s: SynthSettings, year: np.ndarray, n_rows: int) -> np.ndarray:
    """(rows, movies) in [0, 1): each movie's place on each taste row's cycle, a random order shared by every user
    of the row (as a site's pages are) blended with release year: what follows a movie is more than what
    co-occurs with it, and a user joining the cycle anywhere leaves no taste direction to the latest ratings."""
    rng = np.random.default_rng([s.seed, 4])
    order = rng.random((n_rows, year.size))
    year_q = (np.argsort(np.argsort(year, kind="stable")) + 0.5) / year.size
    w = s.chain_year_weight
    return ((1 - w) * order + w * year_q[None, :]).astype(np.float32)
