"""Hostile titles on the page in headless Chromium: an unbroken 350-character title wraps at phone width (360 px)
instead of widening the page, wherever it shows (the movie's card, the rated list).
`latentlens serve` over the hand-made fixture artifact with that title added."""

from __future__ import annotations

import pytest

from tests.handler.fixture_artifact import BUILD_INFO, MOVIES, build_fixture_artifact
from tests.page.conftest import free_port
from tests.reliability.serve_process import Server

pytestmark = pytest.mark.slow

LONG_ID = 77777
LONG_WORD = "Supercalifragilistic" * 17 + "expialidocious"  # 354 characters, no space
assert len(LONG_WORD) >= 350


@pytest.fixture(scope="module")
def long_title_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("long-title")
    movies = [*MOVIES, (LONG_ID, f"{LONG_WORD} (2001)", LONG_WORD, 2001, ["Drama"], None, None, 999, 4.5)]
    info = {**BUILD_INFO, "n_movies": str(len(movies))}
    db = build_fixture_artifact(tmp / "long.duckdb", movies=movies, build_info=info)
    srv = Server(db, free_port(), tmp / "lltmp")
    try:
        srv.wait_healthy()
        yield srv
    finally:
        srv.stop()


def test_an_unbroken_350_character_title_wraps_at_phone_width(page, long_title_server):
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(long_title_server.url + f"/#movie={LONG_ID}")  # the page opens the movie its address names
    page.wait_for_selector(f"#movie-title:has-text('{LONG_WORD[:40]}')")
    page.select_option("#stars", "4")
    page.click("#rate")
    page.wait_for_selector(f"#rated li:has-text('{LONG_WORD[:40]}')")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    title_box = page.locator("#movie-title").bounding_box()
    assert title_box is not None and title_box["width"] <= 360 and title_box["height"] > 100  # wrapped, many lines
    assert page.evaluate("window.__cspViolations") == []
