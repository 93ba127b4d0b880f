"""One request, asked of the HTTP API and of latentlens.Lens with the same inputs, and the two outcomes
compared: a 200's JSON body against the Lens's answer dumped as JSON, an error's status and code against
the exception the Lens raised (422: InvalidParameter, a ValueError; 404: NotFound, a LookupError).

Which Lens method a URL is, and which arguments, comes from the lookup table
(latentlens.handler.lookups): the row whose path matches and whose required query parameters the URL
gives, each value passed as a Python caller would pass it (by the answer's type hint, loosely, so a
value HTTP refuses reaches the Lens too and must be refused there)."""

from __future__ import annotations

import collections.abc
import re
from functools import cache
from typing import Any, get_origin, get_type_hints
from urllib.parse import parse_qsl, urlsplit

from fastapi.testclient import TestClient
from pydantic import BaseModel

import latentlens
from latentlens.handler.answers import AnswerError
from latentlens.handler.lookups import LOOKUPS, Lookup


def value(text: str) -> int | str:
    """A query or path value as a Python caller would pass it: an int when it reads as one, else the text."""
    try:
        return int(text)
    except ValueError:
        return text


def python_value(hint: Any, text: str) -> object:
    """A URL's text as the argument of that type: `858:5,1:1` a mapping, `858,1213` a list, ids as ints."""
    if get_origin(hint) is collections.abc.Mapping:
        return {value(k.strip()): float(s) for k, s in (p.split(":") for p in text.split(","))}
    if get_origin(hint) is collections.abc.Iterable:
        return [value(p.strip()) for p in text.split(",")]
    return value(text) if hint is int else text


@cache
def path_pattern(lookup: Lookup) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", lookup.path) + "$")


def lookup_for(url: str) -> tuple[Lookup, dict[str, object]]:
    """The table's row for a GET of `url` (a path with its query), and the keyword arguments it gives."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    found = []
    for lookup in LOOKUPS:
        match = path_pattern(lookup).match(parts.path)
        if match and all(p.http in query for p in lookup.params if p.where == "query" and p.required):
            found.append((lookup, match))
    assert len(found) == 1, f"{url}: rows {[lookup.name for lookup, _ in found]}"
    lookup, match = found[0]
    hints = get_type_hints(lookup.answer)
    given = {p.name: match[p.http] if p.where == "path" else query.get(p.http) for p in lookup.params}
    return lookup, {name: python_value(hints[name], text) for name, text in given.items() if text is not None}


def lens_call(lens: latentlens.Lens, url: str):
    """The Lens method and arguments matching a GET of `url`."""
    lookup, kwargs = lookup_for(url)
    method = getattr(lens, lookup.name)
    return lambda: method(**kwargs)


def as_json(answer: object) -> object:
    return answer.model_dump(mode="json") if isinstance(answer, BaseModel) else answer


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
    return 200, as_json(answer)


def http_outcome(client: TestClient, url: str) -> tuple[int, object]:
    """(200, what the Lens should return for the body, as JSON) or (status, error code) of one request."""
    r = client.get(url)
    if r.status_code != 200:
        return r.status_code, r.json()["error"]["code"]
    lookup, _ = lookup_for(url)
    body = r.json()
    assert lookup.model.model_validate(body).model_dump(mode="json") == body, url  # exactly the model, no more
    return 200, as_json(lookup.result(body))  # the model, or the part of it the Lens returns (genres)


def assert_same(client: TestClient, lens: latentlens.Lens, url: str) -> int:
    """Both answer `url` alike; returns the HTTP status."""
    http = http_outcome(client, url)
    assert outcome(lens_call(lens, url)) == http, url
    return http[0]
