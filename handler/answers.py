"""Every lookup's whole answer, built once for both callers: the HTTP routes (latentlens.handler.routes)
and the Python API (latentlens.Lens). So a route and `Lens` cannot drift apart: both call these.

Each answer takes the artifact and its keyed reads (`art`, `src`: what a store's rows() gives), then the
lookup's own parameters with the defaults a Python caller gets, and returns the response body as a dict.
Its signature and docstring are the Lens method's as users see them: latentlens.handler.lookups makes the
methods from them and says which answer is which route.

The parameter rules live here too (n and limit 1..100, ids 1..2**31-1, at most 50 rated movies in
half stars from 0.5 to 5, a known genre, a search with a letter or digit). The routes declare the
same bounds to FastAPI for the OpenAPI document; the checks here are what a Python caller meets.
A broken rule is InvalidParameter (a ValueError; HTTP 422), an unknown movie NotFound (a
LookupError; HTTP 404). Nothing here knows about HTTP (a docstring names the endpoint with the same
answer, for the reader).
"""

from __future__ import annotations

import hashlib
import math
import numbers
import operator
import re
import string
from collections.abc import Iterable, Mapping
from typing import SupportsIndex

from latentlens.handler import queries
from latentlens.handler.artifact import Artifact
from latentlens.handler.events.model import Person
from latentlens.handler.experiments import CHALLENGER, CHAMPION
from latentlens.handler.limits import ID_PATTERN, MAX_ID, MAX_LIKED, MAX_N, MAX_STARS, MIN_STARS
from latentlens.handler.queries import RowSource
from latentlens.handler.schema import search_key, session_sha256

MAX_SEARCH_CHARS = 200

# MovieLens moves leading articles to the end ("Godfather, The"), so a query's leading article is dropped.
_ARTICLES = frozenset({"the", "a", "an", "le", "la", "les", "l'", "el", "los", "las", "il", "der", "die", "das"})
_MAX_TOKENS = 8

_BUILD_KEYS = ("created_at", "dataset_name", "dataset_sha256", "topn_champion", "rating_champion",
               "mlflow_run_id", "package_version")


class AnswerError(Exception):
    """A request this artifact cannot answer as asked: a stable `code`, a message, and the HTTP status."""

    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidParameter(AnswerError, ValueError):
    """A parameter out of its bounds (HTTP 422)."""

    status = 422


class NotFound(AnswerError, LookupError):
    """The movie (or, for ratings, every given movie) is not in the artifact (HTTP 404)."""

    status = 404


def _shown(value: object) -> str:
    """A value as an error message shows it: its repr, cut to 60 characters; an integer past 10**18 by its
    magnitude (Python will not print one of 4,301 digits or more, and 400 digits help no one either)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**18:
        return f"about {'-' if value < 0 else ''}10^{round(math.log10(abs(value)))}"
    try:
        text = repr(value)
    except Exception:  # a caller's object whose repr fails must not replace the error being reported
        text = f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def _integer(name: str, value: object) -> int:
    if not isinstance(value, bool) and isinstance(value, SupportsIndex):
        try:
            return operator.index(value)  # int and numpy integers; not floats or strings
        except TypeError:  # an __index__ that returns no int
            pass
    raise InvalidParameter("invalid_parameter", f"{name}: must be an integer, not {_shown(value)}")


def check_n(value: object, name: str = "n") -> int:
    """How many results: an integer from 1 to MAX_N."""
    n = _integer(name, value)
    if not 1 <= n <= MAX_N:
        raise InvalidParameter("invalid_parameter", f"{name}: must be from 1 to {MAX_N}, not {_shown(n)}")
    return n


def check_id(value: object, name: str) -> int:
    """A user or movie id: an integer from 1 to MAX_ID."""
    i = _integer(name, value)
    if not 1 <= i <= MAX_ID:
        raise InvalidParameter("invalid_parameter", f"{name}: must be from 1 to {MAX_ID}, not {_shown(i)}")
    return i


def valid_stars(stars: float) -> bool:
    """0.5 to 5 in half stars (NaN fails the bounds)."""
    return MIN_STARS <= stars <= MAX_STARS and stars * 2 == int(stars * 2)


def check_stars(movie_id: int, value: object) -> float:
    """A rating given from Python: a real number (not a bool) of 0.5 to 5 in half stars, as a float. However
    large, a number out of range is InvalidParameter (float(10**400) would be an OverflowError)."""
    stars = math.nan
    if not isinstance(value, bool) and isinstance(value, numbers.Real):
        try:
            stars = float(value)
        except (OverflowError, ValueError, TypeError):  # too large for a float, or a Real that is not one
            pass
    if not valid_stars(stars):
        raise InvalidParameter("invalid_parameter", f"ratings: {_shown(value)} for movie {movie_id} needs stars "
                               f"from {MIN_STARS:g} to {MAX_STARS:g} in half stars")
    return stars


def check_count(name: str, count: int) -> None:
    """At least one and at most MAX_LIKED movies given."""
    if not count:
        raise InvalidParameter("invalid_parameter", f"{name}: give at least one movie id")
    if count > MAX_LIKED:
        raise InvalidParameter("invalid_parameter", f"{name}: at most {MAX_LIKED} movie ids")


def resolve_genre(art: Artifact, genre: str | None) -> str | None:
    """Case-insensitive genre name -> the artifact's spelling; an unknown genre is an error, not an empty list."""
    if genre is None or genre == "":
        return None
    canonical = art.genres.get(genre.casefold()) if isinstance(genre, str) else None
    if canonical is None:
        known = ", ".join(sorted(art.genres.values()))
        raise InvalidParameter("unknown_genre", f"unknown genre {genre!r}; known: {known}")
    return canonical


def search_terms(text: str) -> tuple[list[str], str, str]:
    """Fold a query like the build folds titles: (tokens that must all occur, whole phrase, phrase without
    a leading article)."""
    words = [w.strip(string.punctuation) for w in search_key(text).split()]
    words = [w for w in words if w]
    phrase = " ".join(words)
    while len(words) > 1 and words[0] in _ARTICLES:
        words = words[1:]
    tokens = list(dict.fromkeys(words))[:_MAX_TOKENS]
    return tokens, phrase, " ".join(words)


def recommendation_id(art: Artifact, *identity: object) -> str:
    """The id of one list answer: "r" and 24 hex digits of the sha256 of the build's ETag and the list's
    identity (which list, its parameters, the variant, and the events folded into it).

    Derived, not random, so caching stays honest: the same build, list and events give the same id, so a body
    served again from a cache under the build's ETag (or kept by a client after a 304) carries the id of exactly
    the list shown, and an ETag still names one representation; the id changes exactly when what the list is
    made of changes, so events quoting it (`recommendation_id` of an impression or a click) say which list a
    person saw. Nothing is stored to make or resolve it."""
    text = "\x1f".join(str(part) for part in (art.etag, *identity))
    return "r" + hashlib.sha256(text.encode()).hexdigest()[:24]


def check_session_id(value: object) -> str:
    """A session id as events carry it: 1 to 64 of A-Z a-z 0-9 _ -."""
    if not isinstance(value, str) or not re.fullmatch(ID_PATTERN, value):
        raise InvalidParameter("invalid_parameter", f"session_id: must be 1 to 64 of A-Z a-z 0-9 _ -, not "
                                                    f"{_shown(value)}")
    return value


def _person_list(art: Artifact, src: RowSource, person: Person, user_id: int | None, n: int,
                 genre: str | None) -> dict:
    """A person's list: the stored list of their arm (the champion's, or the challenger's where it has one for
    them), their rating events since the build folded in; without a stored list the fold of the events alone
    (`rated`, as `ratings=` gives it), else the popular list without the movies they rated."""
    variant = src.audience.arm(art, person)
    rows = [] if user_id is None else src.challenger(user_id) if variant == CHALLENGER else src.user(user_id)
    events = src.audience.rating_events(art, person)
    ratings: dict[int, float] = {}
    for event in events:  # oldest first: a movie rated again moves to its latest place, with its latest stars
        if event.rating is not None:
            ratings.pop(event.movie_id, None)
            ratings[event.movie_id] = event.rating
    art.movies.want(ratings)
    ratings = {movie_id: stars for movie_id, stars in ratings.items() if movie_id in art.movies}
    items = None
    if not ratings:
        items, source = queries.stored(art, rows, n, genre), "personal"
    elif rows:
        items, source = queries.folded(art, src, rows, ratings, n, genre), "personal+events"
    else:
        items, source = queries.rated(art, src, ratings, n, genre) or None, "events"
    if items is None:
        source = "popular"
        items = [{**item, "because": []} for item in queries.popular(art, n, genre, without=ratings)]
    watermark = [(e.event_id, e.at_ms) for e in events]
    return {"source": source, "genre": genre, "variant": variant,
            "recommendation_id": recommendation_id(art, person.key, n, genre, variant, watermark), "items": items}


def user_recommendations(art: Artifact, src: RowSource, user_id: int, n: int = 10, genre: str | None = None) -> dict:
    """The user's stored top-n (`source="personal"`, each item with `because`: up to 3 of the user's
    rated movies that contributed most), or the popular list for a user not in the build
    (`source="popular"`). `genre` (any case) filters within the list. With an event store, the user's
    rating events since the build are folded in (`source="personal+events"`, or `"events"` for a user not in
    the build); with an experiment, `variant` is the user's arm. GET /users/{id}/recommendations."""
    user_id, n = check_id(user_id, "user_id"), check_n(n)
    g = resolve_genre(art, genre)
    return {"user_id": user_id, **_person_list(art, src, Person(user_id=user_id), user_id, n, g)}


def session_recommendations(art: Artifact, src: RowSource, session_id: str, n: int = 10,
                            genre: str | None = None) -> dict:
    """A session's list: the stored list of the user a build trained the session as (`source="personal"`),
    else the fold of the session's rating events (`source="events"`, as `ratings=` gives it), else the popular
    list (`source="popular"`); events since the build are folded into a stored list as for a user.
    GET /sessions/{session_id}/recommendations."""
    session_id, n = check_session_id(session_id), check_n(n)
    g = resolve_genre(art, genre)
    user_id = src.session_user(session_sha256(session_id))
    return {"session_id": session_id, **_person_list(art, src, Person(session_id=session_id), user_id, n, g)}


def movie(art: Artifact, src: RowSource, movie_id: int) -> dict:
    """One movie and its rating statistics. GET /movies/{id}."""
    movie_id = check_id(movie_id, "movie_id")
    found = queries.movie(src, movie_id)
    if found is None:
        raise NotFound("movie_not_found", f"no movie {movie_id}")
    return found


def similar(art: Artifact, src: RowSource, movie_id: int, n: int = 10) -> dict:
    """The movies most similar to this one, best first. GET /movies/{id}/similar."""
    movie_id, n = check_id(movie_id, "movie_id"), check_n(n)
    items = queries.similar(art, src, movie_id, n)
    if items is None:
        raise NotFound("movie_not_found", f"no movie {movie_id}")
    return {"movie_id": movie_id, "variant": CHAMPION,
            "recommendation_id": recommendation_id(art, "similar", movie_id, n), "items": items}


def search_query(text: str) -> tuple[list[str], str, str]:
    """search_terms of a query that has something to look for (1..200 characters, a letter or digit)."""
    if not isinstance(text, str) or not 1 <= len(text) <= MAX_SEARCH_CHARS:
        raise InvalidParameter("invalid_parameter", f"search: must be text of 1 to {MAX_SEARCH_CHARS} characters")
    terms = search_terms(text)
    if not terms[0]:
        raise InvalidParameter("invalid_parameter", "search: needs at least one letter or digit")
    return terms


def search(art: Artifact, src: RowSource, text: str, limit: int = 10) -> dict:
    """Title search, case- and accent-insensitive, forgiving small typos. GET /movies?search=..."""
    limit = check_n(limit, "limit")
    tokens, phrase, stripped = search_query(text)
    return {"query": text, "items": queries.search(art, tokens, phrase, stripped, limit)}


def popular(art: Artifact, src: RowSource, genre: str | None = None, n: int = 10) -> dict:
    """The most popular movies, overall or within `genre`. GET /popular."""
    n = check_n(n)
    g = resolve_genre(art, genre)
    return {"genre": g, "items": queries.popular(art, n, g)}


def genres(art: Artifact, src: RowSource) -> dict:
    """The genres of this build's catalogue (the values `genre` accepts). GET /genres."""
    return {"genres": sorted(art.genres.values())}


def for_ratings(art: Artifact, src: RowSource, ratings: Mapping[int, float], n: int = 10) -> dict:
    """Movies for someone who rated these movies ({movie_id: stars}, in the order rated: the last is the
    latest), excluding them: each rated movie's similar list counts with weight (stars - 3) / 2, so low stars
    push its neighbours down, and the latest 3 also count the movies most often rated next after them (a
    `because` entry of kind "recent" names the one a pick follows). Ids not in the catalogue come back under
    `unknown`. GET /recommendations?ratings=858:5,1:1."""
    n = check_n(n)
    if not isinstance(ratings, Mapping):
        raise InvalidParameter("invalid_parameter", "ratings: must be a mapping of movie id to stars, e.g. {858: 4.5}")
    given: dict[int, float] = {}
    for key, value in ratings.items():
        movie_id = check_id(key, "ratings")
        given[movie_id] = check_stars(movie_id, value)
    check_count("ratings", len(given))
    art.movies.want(given)
    known = {i: stars for i, stars in given.items() if i in art.movies}
    if not known:
        raise NotFound("movie_not_found", "none of the given movies is in the catalogue")
    items = queries.rated(art, src, known, n)
    unknown = sorted(set(given) - set(known))
    return {"liked": list(known), "ratings": {str(i): stars for i, stars in known.items()}, "unknown": unknown,
            "variant": CHAMPION, "recommendation_id": recommendation_id(art, "ratings", list(known.items()), n),
            "items": items}


def liked(art: Artifact, src: RowSource, movie_ids: Iterable[int], n: int = 10) -> dict:
    """for_ratings with every movie at 5 stars, in the order given (the last is the latest).
    GET /recommendations?liked=858,1213."""
    try:
        ratings = dict.fromkeys(movie_ids, 5.0)
    except TypeError:  # not iterable, or an unhashable id ([[858]])
        raise InvalidParameter("invalid_parameter", f"movie_ids: must be movie ids, e.g. [858, 1213], "
                               f"not {_shown(movie_ids)}") from None
    return for_ratings(art, src, ratings, n)


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return -1


def health(art: Artifact, src: RowSource) -> dict:
    """The build's identity (dataset, champions, MLflow run, created_at), counts and sha256. GET /health."""
    info = art.build_info
    return {
        "status": "ok",
        "schema_version": int(info["schema_version"]),
        "build": {k: info[k] for k in _BUILD_KEYS},
        "counts": {"users": _int(info["n_users"]), "movies": _int(info["n_movies"]),
                   "ratings": _int(info["n_ratings"])},
        "artifact_sha256": art.sha256,
    }
