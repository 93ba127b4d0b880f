"""One request, asked of the HTTP API and of latentlens.Lens with the same inputs, and the two outcomes
compared: a 200's JSON body against the Lens's model dumped as JSON, an error's status and code against
the exception the Lens raised (422: InvalidParameter, a ValueError; 404: NotFound, a LookupError)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from fastapi.testclient import TestClient

import latentlens
from latentlens.handler.answers import AnswerError

_USER = re.compile(r"^/users/([^/]+)/recommendations$")
_SIMILAR = re.compile(r"^/movies/([^/]+)/similar$")
_MOVIE = re.compile(r"^/movies/([^/]+)$")


def value(text: str) -> int | str:
    """A query or path value as a Python caller would pass it: an int when it reads as one, else the text."""
    try:
        return int(text)
    except ValueError:
        return text


def lens_call(lens: latentlens.Lens, url: str):
    """The Lens method and arguments matching a GET of `url` (a path with its query)."""
    parts = urlsplit(url)
    q = dict(parse_qsl(parts.query, keep_blank_values=True))
    n = {"n": value(q["n"])} if "n" in q else {}
    if m := _USER.match(parts.path):
        return lambda: lens.recommend(value(m[1]), genre=q.get("genre"), **n)
    if m := _SIMILAR.match(parts.path):
        return lambda: lens.similar(value(m[1]), **n)
    if parts.path == "/movies":
        limit = {"limit": value(q["limit"])} if "limit" in q else {}
        return lambda: lens.search(q["search"], **limit)
    if m := _MOVIE.match(parts.path):
        return lambda: lens.movie(value(m[1]))
    if parts.path == "/popular":
        return lambda: lens.popular(q.get("genre"), **n)
    if parts.path == "/genres":
        return lambda: {"genres": lens.genres()}
    if parts.path == "/recommendations" and "liked" in q:
        return lambda: lens.liked([value(p.strip()) for p in q["liked"].split(",")], **n)
    if parts.path == "/recommendations":
        ratings = {value(k.strip()): float(s) for k, s in (p.split(":") for p in q["ratings"].split(","))}
        return lambda: lens.for_ratings(ratings, **n)
    if parts.path == "/health":
        return lens.info
    raise AssertionError(f"no Lens method for {url}")


def outcome(call) -> tuple[int, object]:
    """(200, the answer as JSON) or (status, error code) of one Lens call."""
    try:
        answer = call()
    except latentlens.InvalidParameter as exc:
        assert isinstance(exc, ValueError)
        return 422, exc.code
    except latentlens.NotFound as exc:
        assert isinstance(exc, LookupError)
        return 404, exc.code
    except AnswerError as exc:  # pragma: no cover - a new kind of answer error would land here
        raise AssertionError(f"unexpected {exc!r}") from None
    return 200, answer if isinstance(answer, dict | list) else answer.model_dump(mode="json")


def assert_same(client: TestClient, lens: latentlens.Lens, url: str) -> int:
    """Both answer `url` alike; returns the HTTP status."""
    r = client.get(url)
    http = (r.status_code, r.json() if r.status_code == 200 else r.json()["error"]["code"])
    assert outcome(lens_call(lens, url)) == http, url
    return r.status_code
