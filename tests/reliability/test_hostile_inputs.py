"""Hostile inputs, tried by name: SQL injection in every parameter, path traversal in ids, huge and
negative numbers, unicode and control characters in search, very long query strings, repeated
parameters. Each gets a 4xx with the JSON error body or a correct answer; no request ever changes
the artifact, and no request value ever reaches DuckDB as SQL text, only as a `?` parameter.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

import duckdb
import pytest
from fastapi.testclient import TestClient

from latentlens.handler.duckdb_store import DuckDBStore
from latentlens.handler.routes.movies import search_terms
from tests.handler.fixture_artifact import MOVIES, search_key_of

SQL_INJECTIONS = [
    "1 OR 1=1",
    "1; DROP TABLE movies; --",
    "' OR '1'='1",
    '"; DROP TABLE movies; --',
    "858) UNION SELECT key, value FROM build_info --",
    "1'; ATTACH '/tmp/pwn.duckdb' AS pwn; --",
    "'; COPY movies TO '/tmp/pwn.csv'; --",
    "%' OR 1=1 --",
    "$1",
    "?",
]

# integer parameters under attack, one per template
INT_PARAMS = [
    "/users/{v}/recommendations",
    "/movies/{v}",
    "/movies/{v}/similar",
    "/popular?n={v}",
    "/users/1/recommendations?n={v}",
    "/movies/858/similar?n={v}",
    "/movies?search=godfather&limit={v}",
    "/recommendations?liked=858&n={v}",
    "/recommendations?liked={v}",
]
GENRE_PATHS = ["/popular", "/users/1/recommendations"]


@pytest.fixture
def spied(client: TestClient, monkeypatch):
    """The client, plus every (sql, params) the handler sends to DuckDB during the test."""
    executed: list[tuple[str, object]] = []
    real_cursor = DuckDBStore.cursor

    class Spy:
        def __init__(self, cur):
            self._cur = cur

        def execute(self, sql, params=None):
            executed.append((sql, params))
            return self._cur.execute(sql, params)

    def cursor(self):
        art, cur = real_cursor(self)
        return art, Spy(cur)

    monkeypatch.setattr(DuckDBStore, "cursor", cursor)
    return client, executed


def assert_json_error(r, status: int | None = None) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    if status is not None:
        assert r.status_code == status, (r.request.url, r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert "Traceback" not in r.text


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sql_injection_in_every_parameter_is_rejected_or_answered_as_plain_text(spied, artifact):
    client, executed = spied
    before = sha256(artifact)
    for payload in SQL_INJECTIONS:
        quoted = quote(payload, safe="")
        for template in INT_PARAMS:
            r = client.get(template.format(v=quoted))
            in_path = template.index("{v}") < template.find("?") or "?" not in template
            if in_path and "/" in payload:
                assert_json_error(r, 404)  # a decoded '/' makes it another (unknown) path
            else:
                assert_json_error(r, 422)
                assert r.json()["error"]["code"] == "invalid_parameter"
        for path in GENRE_PATHS:
            r = client.get(path, params={"genre": payload})
            assert_json_error(r, 422)
            assert r.json()["error"]["code"] == "unknown_genre"
        r = client.get("/movies", params={"search": payload})
        if r.status_code == 200:  # plain text: only titles holding every word of it ("$1" finds the years with a 1)
            assert r.json()["query"] == payload
            tokens = search_terms(payload)[0]
            keys = {m[0]: search_key_of(m) for m in MOVIES}
            for item in r.json()["items"]:
                assert all(t in keys[item["movie_id"]] for t in tokens), (payload, item)
        else:  # nothing but punctuation
            assert_json_error(r, 422)
        assert_json_error(client.get("/recommendations", params={"liked": payload}), 422)
        # a session id is 1-64 of A-Z a-z 0-9 _ - (and reaches DuckDB only as the sha256 hex of itself)
        assert_json_error(client.get(f"/sessions/{quoted}/recommendations"), 404 if "/" in payload else 422)
    assert client.get("/sessions/learned-session/recommendations").json()["source"] == "personal"
    assert any("session_users" in sql for sql, _ in executed)
    # Nothing was dropped, attached, copied or changed, and the data still answers.
    assert client.get("/movies", params={"search": "the godfather"}).json()["items"][0]["movie_id"] == 858
    assert client.get("/users/1/recommendations").json()["source"] == "personal"
    assert sha256(artifact) == before
    assert not Path("/tmp/pwn.csv").exists() and not Path("/tmp/pwn.duckdb").exists()
    # Every value that reached DuckDB travelled as a `?` parameter: no payload ever appears in the SQL
    # text. (Title search is answered from the in-memory index, so its payloads never reach SQL at all.)
    assert any("user_recommendations" in sql for sql, _ in executed), "the spy saw no queries"
    for sql, params in executed:
        assert isinstance(params, list) and params, sql
        for payload in SQL_INJECTIONS:
            if payload not in ("?", "$1"):  # these two spell placeholders
                assert payload.casefold() not in sql.casefold(), (sql, payload)


def test_the_connection_refuses_to_write_or_reach_outside(client: TestClient):
    assert client.get("/health").status_code == 200
    cur = client.app.state.store.cursor()[1]
    for statement in ["CREATE TABLE pwn (a INTEGER)", "DELETE FROM movies", "UPDATE movies SET title = 'x'",
                      "DROP TABLE movies", "INSERT INTO build_info VALUES ('k', 'v')"]:
        with pytest.raises(Exception, match="(?i)read-only|read only"):
            cur.execute(statement)
    for statement in ["COPY movies TO '/tmp/pwn.csv'", "SELECT * FROM read_csv('/etc/passwd')",
                      "ATTACH '/tmp/pwn.duckdb' AS pwn", "INSTALL httpfs"]:
        with pytest.raises(duckdb.PermissionException):  # enable_external_access = false
            cur.execute(statement)
    assert not Path("/tmp/pwn.csv").exists()


@pytest.mark.parametrize("path", [
    "/movies/..%2F..%2Fetc%2Fpasswd",
    "/movies/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/movies/858%2F..%2F..%2Fhealth",
    "/users/..%2F1/recommendations",
    "/users/%2e%2e/recommendations",
    "/movies/858%00",
    "/movies/858%0d%0aX-Injected:%201",
    "/movies/%252e%252e%252f",
    "/movies/.%2e/.%2e/etc/passwd",
])
def test_path_traversal_in_ids_is_a_json_4xx(client: TestClient, path: str):
    r = client.get(path)
    assert r.status_code in (404, 422), (path, r.status_code)
    assert_json_error(r)
    assert "x-injected" not in r.headers
    assert "root:" not in r.text


@pytest.mark.parametrize("value", ["-1", "0", "-0", str(2**31), str(2**63), str(10**100), "1e3", "10.5", "NaN",
                                   "inf", "-inf", "0x10", "²", "٥", "５", "1 OR 1", ""])
def test_out_of_range_and_malformed_numbers_are_422(client: TestClient, value: str):
    for template in ["/popular?n={v}", "/movies?search=godfather&limit={v}", "/users/1/recommendations?n={v}"]:
        assert_json_error(client.get(template.format(v=quote(value))), 422)
    if value:  # an empty path segment is another route
        for template in ["/users/{v}/recommendations", "/movies/{v}", "/movies/{v}/similar"]:
            assert_json_error(client.get(template.format(v=quote(value))), 422)
        assert_json_error(client.get("/recommendations", params={"liked": value}), 422)


ID_PATHS = ["/users/{v}/recommendations", "/recommend/{v}", "/movies/{v}", "/movies/{v}/similar"]
ID_QUERIES = [{"liked": "{v}"}, {"liked": "858,{v}"}, {"ratings": "{v}:5"}, {"ratings": "858:5,{v}:4"}]


def id_requests(value: str) -> list[tuple[str, dict[str, str]]]:
    """Every place an id goes, path and query, holding `value`."""
    return ([(template.format(v=quote(value, safe="")), {}) for template in ID_PATHS]
            + [("/recommendations", {k: v.format(v=value) for k, v in params.items()}) for params in ID_QUERIES])


@pytest.mark.parametrize("value", ["1_0", "+1", " 1", "1 ", "\t1", "１", "٥", "-1", "1e3", "0x1", "1.0"])
def test_ids_are_plain_ascii_digits_in_the_path_and_the_query(client: TestClient, value: str):
    """Pydantic's lax int() read '1_0' as 10 and '+1', ' 1' as 1 in the path while `liked=` refused them: one rule
    everywhere now, ASCII digits and nothing else (counts, n and limit, too: test_counts_are_plain_ascii_digits_too)."""
    for path, params in id_requests(value):
        r = client.get(path, params=params)
        assert_json_error(r, 422)
        assert r.json()["error"]["code"] == "invalid_parameter", (path, params, r.text)


@pytest.mark.parametrize("value", ["1", "0001"])
def test_ids_in_ascii_digits_are_answered_in_the_path_and_the_query(client: TestClient, value: str):
    """The control: the same requests with plain digits (leading zeros mean the id) are answered."""
    for path, params in id_requests(value):
        r = client.get(path, params=params)
        assert r.status_code == 200, (path, params, r.text)


@pytest.mark.parametrize("value", ["101", "1000"])
def test_counts_above_100_are_422(client: TestClient, value: str):
    for template in ["/popular?n={v}", "/movies?search=godfather&limit={v}", "/users/1/recommendations?n={v}",
                     "/movies/858/similar?n={v}", "/recommendations?liked=858&n={v}"]:
        assert_json_error(client.get(template.format(v=value)), 422)


COUNT_REQUESTS = ["/popular?n={v}", "/movies?search=godfather&limit={v}", "/users/1/recommendations?n={v}",
                  "/recommend/1?n={v}", "/movies/858/similar?n={v}", "/recommendations?liked=858&n={v}"]


@pytest.mark.parametrize("value", ["+5", " 5", "5 ", "\t5", "1_0", "1.0", "5e0", "0x5", "５", "٥"])
def test_counts_are_plain_ascii_digits_too(client: TestClient, value: str):
    """n and limit as ids: pydantic's lax int() read '+5' and ' 5' as 5 and '1_0' as 10; now a JSON 422
    `invalid_parameter` naming the parameter, in every route that takes a count."""
    for template in COUNT_REQUESTS:
        r = client.get(template.format(v=quote(value, safe="")))
        assert_json_error(r, 422)
        assert r.json()["error"]["code"] == "invalid_parameter", (template, value, r.text)
        name = "limit" if "limit=" in template else "n"
        assert r.json()["error"]["message"].startswith(f"{name}: must be a whole number"), r.text


@pytest.mark.parametrize("value,means", [("5", 5), ("05", 5), ("100", 100)])
def test_counts_in_ascii_digits_are_answered(client: TestClient, value: str, means: int):
    """The control: plain digits (leading zeros too, as in ids) mean that count, in every route."""
    for template in COUNT_REQUESTS:
        r = client.get(template.format(v=value))
        assert r.status_code == 200, (template, r.text)
    assert len(client.get("/popular", params={"n": value}).json()["items"]) == min(means, 8)


def test_largest_ids_are_answered_not_overflowed(client: TestClient):
    biggest = 2**31 - 1
    r = client.get(f"/users/{biggest}/recommendations?n=3")
    assert r.status_code == 200 and r.json()["source"] == "popular" and len(r.json()["items"]) == 3
    assert_json_error(client.get(f"/movies/{biggest}"), 404)
    assert_json_error(client.get(f"/movies/{biggest}/similar"), 404)
    assert_json_error(client.get("/recommendations", params={"liked": str(biggest)}), 404)
    assert_json_error(client.get("/recommendations", params={"liked": str(biggest + 1)}), 422)


@pytest.mark.parametrize("search,expected", [
    ("amélie", 4973), ("AMELIE", 4973), ("  the   GODFATHER  ", 858), ("godfather\x00", None),
    ("\u202egodfather", None), ("godfather\u200b", None), ("🎬 godfather", None), ("\x1b[31mgodfather", None),
    ("\r\nSet-Cookie: a=b", None), ("%00", None), ("\\x00", None), ("\U0010ffff", None),
])
def test_unicode_and_control_characters_in_search(client: TestClient, search: str, expected: int | None):
    r = client.get("/movies", params={"search": search})
    if r.status_code == 422:
        assert_json_error(r, 422)
        assert expected is None, (search, r.json())
        return
    assert r.status_code == 200, (search, r.text)
    assert "set-cookie" not in r.headers
    body = r.json()
    assert body["query"] == search
    ids = [item["movie_id"] for item in body["items"]]
    if expected is not None:
        assert ids[:1] == [expected], (search, ids)


def test_invalid_utf8_in_query_string_is_a_json_4xx_or_an_answer(client: TestClient):
    for query in ["search=%ff%fe", "search=%c0%af", "genre=%ff", "liked=%ed%a0%80"]:
        path = ("/movies" if query.startswith("search") else "/popular" if query.startswith("genre")
                else "/recommendations")
        r = client.get(f"{path}?{query}")
        assert r.status_code in (200, 404, 422), (query, r.status_code, r.text)
        if r.status_code != 200:
            assert_json_error(r)


def test_very_long_query_strings(client: TestClient):
    assert_json_error(client.get("/movies", params={"search": "a" * 201}), 422)
    assert client.get("/movies", params={"search": "godfather " + "x" * 190}).status_code == 200
    assert_json_error(client.get("/popular", params={"genre": "D" * 65}), 422)
    # ~60 KB query strings (httpx refuses 64 KiB; API Gateway and uvicorn cap far lower)
    assert_json_error(client.get("/recommendations", params={"liked": ",".join(map(str, range(1, 7_001)))}), 422)
    assert_json_error(client.get("/recommendations?" + "&".join(f"liked={i}" for i in range(1, 5_001))), 422)
    many_tokens = " ".join(f"w{i}" for i in range(60))[:200]
    r = client.get("/movies", params={"search": many_tokens})
    assert r.status_code == 200 and r.json()["items"] == []
    r = client.get("/popular?" + "&".join(f"junk{i}={'x' * 20}" for i in range(1_500)) + "&n=2")
    assert r.status_code == 200 and len(r.json()["items"]) == 2  # unknown parameters are ignored


def test_repeated_parameters(client: TestClient):
    r = client.get("/recommendations?liked=858&liked=1213&liked=858")
    assert r.status_code == 200 and r.json()["liked"] == [858, 1213]
    assert [i["movie_id"] for i in r.json()["items"]][:3] == [1221, 318, 2023]
    # a scalar given twice: the last value wins (Starlette's QueryParams), and the answer is right for it
    r = client.get("/popular?n=1&n=3")
    assert r.status_code == 200 and len(r.json()["items"]) == 3
    r = client.get("/popular?genre=Drama&genre=Comedy")
    assert r.status_code == 200 and r.json()["genre"] == "Comedy"
    assert r.json()["items"] and all("Comedy" in item["genres"] for item in r.json()["items"])
    assert_json_error(client.get("/popular?n=3&n=abc"), 422)
    r = client.get("/movies?search=zzz&search=godfather")
    assert r.status_code == 200 and r.json()["query"] == "godfather" and r.json()["items"][0]["movie_id"] == 858


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_only_get_is_served_and_other_methods_get_a_json_405_with_allow(client: TestClient, method: str, artifact):
    before = sha256(artifact)
    for path in ["/movies/858", "/users/1/recommendations", "/popular", "/health"]:
        r = client.request(method, path, content=b'{"title": "x"}', headers={"content-type": "application/json"})
        assert_json_error(r, 405)
        assert r.headers["allow"] == "GET, HEAD"
    assert sha256(artifact) == before


@pytest.mark.parametrize("digits", [4_301, 5_000, 50_000])  # httpx refuses URLs of 64 KiB
@pytest.mark.parametrize("template", INT_PARAMS)
def test_over_long_numbers_anywhere_are_422_not_500(client: TestClient, template: str, digits: int):
    """Python refuses int() of more than 4,300 digits with a ValueError: every numeric input checks length first."""
    r = client.get(template.format(v="9" * digits))
    assert_json_error(r, 422)
    assert len(r.text) < 1_000  # the message quotes an excerpt, not the whole number


def test_over_long_liked_ids_are_422_alone_and_in_a_list(client: TestClient):
    for liked in ["858," + "1" * 4_301, "1" * 4_301 + ",858", "1" * 11, str(2**31)]:
        assert_json_error(client.get("/recommendations", params={"liked": liked}), 422)
    # leading zeros mean the same id, however many (as in the path: /movies/000858 is 858)
    r = client.get("/recommendations", params={"liked": "0" * 5_000 + "858"})
    assert r.status_code == 200 and r.json()["liked"] == [858]
    assert client.get("/movies/" + "0" * 5_000 + "858").json()["movie_id"] == 858
