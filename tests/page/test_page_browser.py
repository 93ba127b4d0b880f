"""The page at GET / in headless Chromium against `latentlens serve` on the embedded build: search,
a movie's card and similar movies, rating three movies, a user's picks, the genre filter, the
empty and error states, phone width, /docs offline, and no request leaving 127.0.0.1."""

from __future__ import annotations

import re

import pytest

from latentlens.handler.public import public_message
from latentlens.handler.schema import SCHEMA_VERSION
from tests.page.conftest import Gate, Server, free_port, marker_boxes, network_log

pytestmark = pytest.mark.slow


def open_page(page, server, path: str = "/") -> None:
    page.goto(server.url + path)
    page.wait_for_selector("#build:text-matches('ml-latest-small')")


def search_and_open(page, query: str, expect: str) -> None:
    """Type as a person would, pick the hit with the keyboard, wait for its card."""
    page.fill("#q", "")
    page.type("#q", query, delay=20)
    page.wait_for_selector(f"#hits li[role=option]:has-text('{expect}')")
    options = page.locator("#hits li[role=option]")
    index = next(i for i in range(options.count()) if expect in options.nth(i).inner_text())
    for _ in range(index + 1):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#movie-title:has-text('{expect}')")


def test_search_open_a_movie_and_follow_a_similar_one(page, server):
    open_page(page, server)
    search_and_open(page, "godfather", "The Godfather (1972)")
    facts = page.inner_text("#movie-facts")
    assert "Crime" in facts and re.search(r"mean rating \d\.\d\d from \d+ ratings", facts), facts
    links = page.eval_on_selector_all("#movie-links a", "els => els.map(a => a.href)")
    assert links == ["https://www.imdb.com/title/tt0068646/", "https://www.themoviedb.org/movie/238"]
    similar = page.locator("#similar li button")
    assert similar.count() == 10
    titles = similar.all_inner_texts()
    assert "The Godfather: Part II (1974)" in titles
    similar.nth(1).click()
    page.wait_for_selector(f"#movie-title:has-text('{titles[1]}')")
    assert page.locator("#similar li button").count() > 0
    assert page.recorder.outside(server.url) == []


def test_search_forgives_a_typo_and_tells_same_titles_apart(page, server):
    open_page(page, server)
    search_and_open(page, "godfathr", "The Godfather (1972)")
    assert page.input_value("#q") == "The Godfather (1972)"  # the box names the movie opened, not the typo
    title = page.inner_text("#similar li button >> nth=0")
    page.locator("#similar li button").first.click()  # a movie opened from the card: the box follows
    page.wait_for_selector(f"#movie-title:has-text('{title}')")
    assert page.input_value("#q") == title
    page.fill("#q", "")
    page.type("#q", "war of the worlds", delay=20)
    page.wait_for_selector("#hits li[role=option]:has-text('War of the Worlds (2005)')")
    same = [t for t in page.locator("#hits li[role=option]").all_inner_texts()
            if t.startswith("War of the Worlds (2005)")]
    assert len(same) == 2 and same[0] != same[1]  # their rating counts differ
    page.fill("#q", "")
    page.type("#q", "zzqqxx", delay=20)
    page.wait_for_selector("#hits li.empty:has-text('No movie matches')")


def test_rate_three_movies_and_see_picks_with_reasons(page, server):
    open_page(page, server)
    for query, title, stars in (("godfather", "The Godfather (1972)", "5"), ("goodfellas", "Goodfellas (1990)", "4.5"),
                                ("toy story", "Toy Story (1995)", "1")):
        search_and_open(page, query, title)
        assert page.input_value("#stars") == "" and page.is_disabled("#rate")  # unrated until stars are picked
        page.select_option("#stars", stars)
        page.click("#rate")
        page.wait_for_selector(f"#rated li:has-text('{title}')")
    assert page.locator("#rated li").count() == 3
    search_and_open(page, "goodfellas", "Goodfellas (1990)")  # a rated movie opens with its rating
    assert page.input_value("#stars") == "4.5" and page.inner_text("#rate") == "Update rating"
    page.wait_for_selector("#picks li .why")
    picks = page.locator("#picks li")
    assert picks.count() == 10
    reasons = page.locator("#picks li .why").all_inner_texts()
    assert len(reasons) == 10 and all(r.startswith("because you ") for r in reasons)
    assert any("The Godfather 5★" in r for r in reasons)
    assert not any("Toy Story 1★" in r for r in reasons)  # a 1-star movie is never a reason
    assert "The Godfather (1972)" not in picks.all_inner_texts()  # rated movies are not recommended back
    page.reload()  # ratings survive a reload (localStorage)
    page.wait_for_selector("#picks li .why")
    assert page.locator("#rated li").count() == 3
    assert page.recorder.outside(server.url) == []


def test_the_latest_rating_names_what_is_rated_next_after_it(page, server, embedded_build):
    """The most-rated movie with a next_movies list, rated last of two: its top follower is a pick whose reason
    says "because you recently rated" it; the earlier one is never the recent one."""
    import json

    import duckdb

    con = duckdb.connect(str(embedded_build[0].out), read_only=True)
    (first, first_title), (latest, latest_title) = con.execute(
        "SELECT m.movie_id, m.display_title || ' (' || m.year || ')' FROM movies m WHERE m.year IS NOT NULL AND "
        "EXISTS (SELECT 1 FROM next_movies n WHERE n.movie_id = m.movie_id) ORDER BY m.n_ratings DESC, m.movie_id "
        "LIMIT 2").fetchall()
    con.close()
    open_page(page, server)
    ratings = [{"movie_id": first, "title": first_title, "stars": 4}, {"movie_id": latest, "title": latest_title,
                                                                     "stars": 5}]
    page.evaluate("r => localStorage.setItem('latentlens.ratings', r)", json.dumps(ratings))
    page.reload()
    page.wait_for_selector("#picks li .why")
    reasons = page.locator("#picks li .why").all_inner_texts()
    latest_name = latest_title.rsplit(" (", 1)[0]
    assert any(r.startswith(f"because you recently rated {latest_name} 5★") for r in reasons), reasons
    assert page.recorder.outside(server.url) == []


def test_user_lookup_with_reasons_and_a_genre_filter(page, server):
    open_page(page, server)
    page.wait_for_selector("#user-genre option[value=Comedy]", state="attached")
    page.fill("#user", "1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#user-picks li .why")
    assert "Picks for user 1" in page.inner_text("#user-note")
    assert page.locator("#user-picks li").count() == 10
    page.select_option("#user-genre", "Comedy")
    page.wait_for_selector("#user-note:has-text('in Comedy')")
    genres = page.eval_on_selector_all("#user-picks li", "els => els.map(li => li.dataset.genres || '')")
    assert genres and all("Comedy" in g.split("|") for g in genres), genres
    page.fill("#user", "99999999")
    page.click("#user-form button")
    page.wait_for_selector("#user-note:has-text('not in this build')")
    assert page.recorder.outside(server.url) == []


def genre_widths(page) -> list[float]:
    return page.eval_on_selector_all("select.genres", "els => els.map(e => e.getBoundingClientRect().width)")


def test_a_slow_api_shows_loading_and_a_busy_button(page, server):
    """The API held back (Gate): Popular says "Loading…" and is aria-busy, the genre selects keep their width when
    the genres arrive; "Show picks" is disabled while its request waits and enabled again after an answer and after
    a failure; user id 0 replaces user 1's note and picks with the reason."""
    popular, genres = Gate(page, "/popular?"), Gate(page, "/genres")
    page.goto(server.url + "/")
    page.wait_for_selector("#popular[aria-busy=true] li.loading:has-text('Loading…')")
    before = genre_widths(page)
    genres.release()
    page.wait_for_selector("#popular-genre option[value=Documentary]", state="attached")
    assert genre_widths(page) == before and before[0] > 0
    assert page.locator("#popular li.loading").count() == 1  # still waiting for its own answer
    popular.release()
    page.wait_for_selector("#popular li button")
    assert page.get_attribute("#popular", "aria-busy") is None and page.locator("#popular li.loading").count() == 0

    users = Gate(page, "/users/")
    page.fill("#user", "1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#user-picks[aria-busy=true] li.loading")
    assert page.is_disabled("#user-show") and "Loading picks for user 1" in page.inner_text("#user-note")
    users.release()
    page.wait_for_selector("#user-picks li .why")
    assert page.is_enabled("#user-show") and page.get_attribute("#user-picks", "aria-busy") is None
    assert "Picks for user 1" in page.inner_text("#user-note")

    page.fill("#user", "0")  # refused by the input's min="1": the note says why, user 1's list goes
    page.click("#user-show")
    page.wait_for_selector("#user-note:has-text('a whole number from 1')")
    assert "user 1" not in page.inner_text("#user-note") and page.locator("#user-picks li").count() == 0

    page.fill("#user", "2")
    page.click("#user-show")
    page.wait_for_selector("#user-picks li.loading")
    assert page.is_disabled("#user-show")
    users.fail()  # the request never answers
    page.wait_for_selector("#banner:has-text('not answering')")
    assert page.is_enabled("#user-show") and page.locator("#user-picks li.loading").count() == 0
    assert page.recorder.outside(server.url) == []


def test_popular_overall_and_per_genre(page, server):
    open_page(page, server)
    page.wait_for_selector("#popular li button")
    assert page.locator("#popular li").count() == 10
    page.select_option("#popular-genre", "Drama")
    # a function, not an expression: Playwright evals an expression in the page, which its CSP forbids
    page.wait_for_function("() => [...document.querySelectorAll('#popular li')]"
                           ".every(li => (li.dataset.genres || '').split('|').includes('Drama'))")
    footer = page.inner_text("#build")
    assert "ml-latest-small" in footer and f"schema {SCHEMA_VERSION}" in footer


def test_unknown_movie_and_the_api_down(page, server):
    open_page(page, server, "/#movie=2000000000")
    page.wait_for_selector("#movie-title:has-text('Unknown movie')")
    page.route(lambda url: "/movies?" in url, lambda route: route.abort())  # the API stops answering
    page.type("#q", "alien", delay=20)
    page.wait_for_selector("#banner:has-text('not answering')")


def test_an_unavailable_artifact_is_explained(page, tmp_path):
    srv = Server(tmp_path / "missing.duckdb", free_port(), tmp_path / "tmp")
    try:
        page.goto(srv.url + "/", timeout=30_000) if _wait_up(srv) else pytest.fail("serve did not start")
        page.wait_for_selector("#banner:has-text('unavailable')")
        assert public_message("artifact_missing") in page.inner_text("#banner")  # the API's public reason
        assert page.inner_text("#build") == "Build: unavailable"
    finally:
        srv.stop()


def _wait_up(srv: Server) -> bool:
    import time

    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            return httpx.get(srv.url + "/health", timeout=2).status_code == 503
        except httpx.TransportError:
            time.sleep(0.1)
    return False


def test_readable_at_phone_width(page, server):
    """No horizontal scroll at 360 px, and each list number beside the first line of its title, wrapped or not
    (a button's baseline is its last line: measured on the ::marker boxes Chromium lays out)."""
    page.set_viewport_size({"width": 360, "height": 740})
    open_page(page, server)
    page.wait_for_selector("#popular li button")
    lines = page.eval_on_selector_all("#popular > li button", """bs => bs.map(b => {
        const r = document.createRange(); r.selectNodeContents(b); const rs = r.getClientRects();
        return [rs[0].top, rs[0].bottom, rs.length]; })""")
    markers = marker_boxes(page, "#popular > li")
    assert len(markers) == len(lines) == 10 and any(n > 1 for _, _, n in lines)  # some titles wrap at 360 px
    for (top, bottom, _), (marker_top, marker_bottom) in zip(lines, markers, strict=True):
        assert top <= (marker_top + marker_bottom) / 2 <= bottom, (lines, markers)
    search_and_open(page, "amélie", "Amelie (2001)")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_docs_work_offline(page, server):
    page.goto(server.url + "/docs")
    page.wait_for_selector(".swagger-ui .info .title:has-text('LatentLens')")
    page.wait_for_selector(".opblock-summary-path:has-text('/recommendations')")
    assert page.recorder.outside(server.url) == []
    assert any(u.endswith("/docs/assets/swagger-ui-bundle.js") for u in page.recorder.urls)


def test_redoc_works_offline(page, server):
    """ReDoc renders from this server alone. Its sidebar asks cdn.redoc.ly for a logo whatever its options
    say; the page's Content-Security-Policy makes Chromium refuse that before sending it (if a ReDoc
    upgrade drops the logo, the wait for that refusal times out: then delete it)."""
    with page.expect_event("requestfailed", lambda r: r.url.startswith("https://cdn.redoc.ly/")) as refused:
        page.goto(server.url + "/redoc")
    assert refused.value.failure == "csp"
    page.wait_for_selector("h1:has-text('LatentLens')")
    page.wait_for_selector("text=/recommendations")
    page.wait_for_selector("text=API docs by Redocly")
    page.wait_for_selector("img[alt='redocly logo']", state="detached")  # ReDoc drops the image it could not load
    assert page.recorder.outside(server.url) == []
    assert any(u.endswith("/docs/assets/redoc.standalone.js") for u in page.recorder.urls)


def test_the_page_works_under_a_stage_prefix_through_the_lambda_entry(page, stage_gateway):
    """Opened at /prod/ behind a REST API stand-in that hands every request to the Lambda entry as an API
    Gateway event: search, a movie, rated picks, the footer and /docs all load, and every request the page
    makes stays under /prod/ (its URLs are relative; a root-absolute one would get the gateway's 403)."""
    from urllib.parse import urlsplit

    browser_log = network_log(page)  # with the browser's own icon request, which Playwright's events leave out
    page.goto(stage_gateway.url + "/")
    page.wait_for_selector("#build:text-matches('ml-latest-small')")
    search_and_open(page, "godfather", "The Godfather (1972)")
    assert page.locator("#similar li button").count() == 10
    page.select_option("#stars", "5")
    page.click("#rate")
    page.wait_for_selector("#picks li .why")
    page.click("a[href=docs]")
    page.wait_for_selector(".opblock-summary-path:has-text('/recommendations')")
    paths = [urlsplit(u).path for u in page.recorder.urls if urlsplit(u).scheme in ("http", "https")]
    assert {"/prod/", "/prod/health", "/prod/movies/858", "/prod/docs", "/prod/openapi.json"} <= set(paths), paths
    assert all(p.startswith("/prod/") for p in paths), paths
    assert [(status, u) for status, u in browser_log
            if urlsplit(u).scheme == "http" and (status >= 400 or not urlsplit(u).path.startswith("/prod/"))] == []
    assert page.recorder.outside(stage_gateway.origin) == []


def test_the_page_works_under_its_strict_content_security_policy(page, server):
    """`/` sends a CSP without 'unsafe-inline' (its inlined script and style allowed by hash) and nosniff; the page
    searches, opens a movie, rates it and shows picks and a user's list with Chromium reporting no violation; its icon
    is inline, so Chromium's network log (which, unlike Playwright's events, has the browser's own icon request)
    has no /favicon.ico and no 404."""
    responses = network_log(page)
    response = page.goto(server.url + "/")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    page.wait_for_selector("#build:text-matches('ml-latest-small')")
    search_and_open(page, "godfather", "The Godfather (1972)")
    page.select_option("#stars", "5")
    page.click("#rate")
    page.wait_for_selector("#picks li .why")
    page.fill("#user", "1")
    page.click("#user-form button[type=submit]")
    page.wait_for_selector("#user-picks li")
    assert page.locator("#popular li").count() > 0
    assert page.evaluate("window.__cspViolations") == []
    assert page.csp_console == []
    assert page.recorder.blocked == []
    assert [u for status, u in responses if status >= 400 or u.endswith("/favicon.ico")] == []
    assert page.get_attribute("link[rel=icon]", "href").startswith("data:image/svg+xml,")
    assert (200, server.url + "/health") in responses  # the log is live
