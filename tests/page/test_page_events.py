"""The page with events on, in headless Chromium against `latentlens serve --events FILE` (a real SQLite event store)
over the suite's embedded build: a rating is an event in the file, under a random session id kept in the browser;
the list after it, asked for past every cache, no longer holds the movie; a pick's click and the list's impressions
carry its recommendation_id; a reload and another browser holding only the session id get the same picks; a send
whose answer was lost is sent again and stored once, one that never got through is sent on the next visit. With
events off (the plain `latentlens serve`), the page sends nothing and makes no session."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.page.conftest import Server, free_port
from tests.page.test_page_browser import open_page, search_and_open

pytestmark = pytest.mark.slow

SESSION = "() => localStorage.getItem('latentlens.session')"


@pytest.fixture(scope="module")
def events_server(embedded_build, tmp_path_factory):
    settings, _ = embedded_build
    store = tmp_path_factory.mktemp("page-events") / "events.sqlite"
    srv = Server(settings.out, free_port(), tmp_path_factory.mktemp("page-events-serve"), "--events", str(store))
    srv.store = store
    try:
        srv.wait_healthy()
        yield srv
    finally:
        srv.stop()


def stored(store: Path, session_id: str, kind: str) -> list[dict]:
    """The events of one session and type, as the store file holds them, in the order stored."""
    with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM events WHERE session_id = ? AND type = ? ORDER BY seq", (session_id, kind))
        return [dict(row) for row in rows]


def posted(kind: str):
    """A predicate for the page's POST /events whose events are of this type."""
    return lambda r: (r.url.endswith("/events") and r.request.method == "POST"
                      and f'"type":"{kind}"' in (r.request.post_data or ""))


def session_list(r) -> bool:
    return "/sessions/" in r.url and "/recommendations" in r.url


def pick_titles(page) -> list[str]:
    return page.locator("#picks li button").all_inner_texts()


def rate(page, stars: str) -> tuple[dict, dict, list]:
    """Rate the movie on the card; returns the rating events posted, the list answer that followed (after the 202)
    and the impressions posted for it, each waited for."""
    page.select_option("#stars", stars)
    with page.expect_response(posted("rating")) as sent, page.expect_response(session_list) as listed, \
            page.expect_response(posted("impression")) as shown:
        page.click("#rate")
    assert sent.value.status == 202 and listed.value.status == 200 and shown.value.status == 202
    answer = listed.value.json()
    page.wait_for_selector(f"#picks[data-recommendation-id='{answer['recommendation_id']}'] li button")
    return json.loads(sent.value.request.post_data), answer, json.loads(shown.value.request.post_data)


def test_a_rating_is_an_event_and_the_list_after_it_drops_the_movie(page, events_server):
    open_page(page, events_server)
    assert page.is_visible("#events-note") and page.evaluate(SESSION) is None  # no session before the first event
    search_and_open(page, "godfather", "The Godfather (1972)")
    [rating], answer, impressions = rate(page, "5")
    sid = page.evaluate(SESSION)
    assert re.fullmatch(r"[0-9a-f]{32}", sid)
    [row] = stored(events_server.store, sid, "rating")
    assert (row["movie_id"], row["rating"], row["event_id"], row["recommendation_id"]) == (
        858, 5.0, rating["event_id"], None)  # opened from the search: no list's id
    assert answer["source"] == "events" and answer["session_id"] == sid
    titles = pick_titles(page)
    assert len(titles) == 10 and "The Godfather (1972)" not in titles
    rec_id = answer["recommendation_id"]
    shown = stored(events_server.store, sid, "impression")
    listed = [m["movie_id"] for m in answer["items"]]
    assert [e["movie_id"] for e in shown] == listed == [e["movie_id"] for e in impressions]
    assert {e["recommendation_id"] for e in shown} == {rec_id}

    # a pick, opened (a click event with its list's id) and rated: the next list no longer holds it
    pick = page.locator("#picks li button").nth(2)
    title, movie_id = pick.inner_text(), int(pick.get_attribute("data-movie-id"))
    with page.expect_response(posted("click")) as clicked:
        pick.click()
    assert clicked.value.status == 202
    page.wait_for_selector(f"#movie-title:has-text('{title}')")
    [click] = stored(events_server.store, sid, "click")
    assert (click["movie_id"], click["recommendation_id"]) == (movie_id, rec_id)
    [again], after, _ = rate(page, "4")
    assert again["recommendation_id"] == rec_id and again["session_id"] == sid
    assert [(r["movie_id"], r["rating"], r["recommendation_id"]) for r in stored(events_server.store, sid, "rating")] \
        == [(858, 5.0, None), (movie_id, 4.0, rec_id)]
    assert title in titles and title not in pick_titles(page)
    assert movie_id not in [m["movie_id"] for m in after["items"]] and after["recommendation_id"] != rec_id
    assert page.locator("#rated li button.remove").count() == 0 and page.is_visible("#forget")
    assert page.evaluate("() => window.__cspViolations") == [] and page.is_hidden("#banner")
    assert page.recorder.outside(events_server.url) == []


def test_a_returning_person_keeps_the_session_and_the_picks(page, events_server, chromium):
    open_page(page, events_server)
    search_and_open(page, "godfather", "The Godfather (1972)")
    rate(page, "5")
    search_and_open(page, "goodfellas", "Goodfellas (1990)")
    _, answer, _ = rate(page, "4.5")
    sid, before = page.evaluate(SESSION), pick_titles(page)
    with page.expect_response(session_list) as listed:
        page.reload()
    assert listed.value.url.startswith(f"{events_server.url}/sessions/{sid}/recommendations")
    assert listed.value.headers["cache-control"] == "private, no-store"
    page.wait_for_selector("#picks li button")
    assert page.evaluate(SESSION) == sid and pick_titles(page) == before
    assert len(stored(events_server.store, sid, "rating")) == 2  # the reload sent no rating again

    # another browser that holds only the session id: the picks come from the store alone
    other = chromium.new_context()
    try:
        elsewhere = other.new_page()
        elsewhere.add_init_script(f"localStorage.setItem('latentlens.session', {json.dumps(sid)})")
        elsewhere.goto(events_server.url + "/")
        elsewhere.wait_for_selector(f"#picks[data-recommendation-id='{answer['recommendation_id']}'] li button")
        assert pick_titles(elsewhere) == before and elsewhere.locator("#rated li").count() == 0
    finally:
        other.close()

    page.click("#forget")  # a new session from here: no ratings, no picks, the next rating under a new id
    page.wait_for_selector("#picks-title", state="hidden")
    assert page.evaluate(SESSION) is None and page.locator("#rated li").count() == 0
    search_and_open(page, "toy story", "Toy Story (1995)")
    [rating], _, _ = rate(page, "4")
    assert rating["session_id"] not in (sid, None) and page.evaluate(SESSION) == rating["session_id"]
    assert page.recorder.outside(events_server.url) == []


def test_a_send_whose_answer_was_lost_is_sent_again_and_stored_once(page, events_server):
    """The first rating send reaches the server and is stored, but its answer is dropped before the page sees it
    (as a connection cut after the commit would): the page sends the same batch again; the server acknowledges
    the duplicate; the file holds the rating once."""
    sends: list[str] = []

    def lose_first_answer(route) -> None:
        sends.append(route.request.post_data)
        if len(sends) == 1:
            assert route.fetch().status == 202  # really stored
            route.abort()
        else:
            route.continue_()

    page.route(lambda url: url.endswith("/events"), lambda route: lose_first_answer(route)
               if '"type":"rating"' in (route.request.post_data or "") else route.continue_())
    open_page(page, events_server)
    search_and_open(page, "goodfellas", "Goodfellas (1990)")
    [rating], _, _ = rate(page, "4.5")
    assert len(sends) == 2 and sends[0] == sends[1]  # the same batch, event_id and all
    [row] = stored(events_server.store, page.evaluate(SESSION), "rating")
    assert row["event_id"] == rating["event_id"] and row["movie_id"] == 1213
    assert "Goodfellas (1990)" not in pick_titles(page) and page.is_hidden("#banner")


def test_a_rating_that_never_got_through_is_sent_on_the_next_visit(page, events_server):
    page.route(lambda url: url.endswith("/events"), lambda route: route.abort())  # every send fails
    open_page(page, events_server)
    search_and_open(page, "godfather", "The Godfather (1972)")
    page.select_option("#stars", "5")
    with page.expect_response(session_list):
        page.click("#rate")
    page.wait_for_selector("#banner:has-text('not stored yet')")
    sid = page.evaluate(SESSION)
    assert stored(events_server.store, sid, "rating") == [] and "The Godfather (1972)" in page.inner_text("#rated")
    page.unroute_all()
    with page.expect_response(posted("rating")) as sent, page.expect_response(session_list) as listed:
        page.reload()
    assert sent.value.status == 202 and listed.value.json()["source"] == "events"
    [rating] = json.loads(sent.value.request.post_data)
    assert [(r["event_id"], r["movie_id"]) for r in stored(events_server.store, sid, "rating")] == [
        (rating["event_id"], 858)]
    page.wait_for_selector("#picks li button")
    assert "The Godfather (1972)" not in pick_titles(page) and page.is_hidden("#banner")


def test_with_events_off_the_page_sends_nothing_and_makes_no_session(page, server):
    open_page(page, server)
    assert page.get_attribute("meta[name=latentlens-events]", "content") == "off"
    search_and_open(page, "godfather", "The Godfather (1972)")
    page.select_option("#stars", "5")
    page.click("#rate")
    page.wait_for_selector("#picks li .why")
    pick = page.locator("#picks li button").first
    title = pick.inner_text()
    pick.click()  # a pick opened: no click event either
    page.wait_for_selector(f"#movie-title:has-text('{title}')")
    page.reload()
    page.wait_for_selector("#picks li .why")
    assert [u for u in page.recorder.urls if "/events" in u or "/sessions/" in u] == []
    assert any("/recommendations?n=10&ratings=858:5" in u for u in page.recorder.urls)
    assert page.evaluate(SESSION) is None
    assert page.is_hidden("#events-note") and page.is_hidden("#forget")
    assert page.locator("#rated li button.remove").count() == 1
