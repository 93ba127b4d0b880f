"""Every endpoint through FastAPI's TestClient against the fixture artifact: answers, bounds, errors, caching."""

from __future__ import annotations

import re

import pytest

from latentlens.handler import models


def titles(body: dict) -> list[str]:
    return [item["title"] for item in body["items"]]


def test_health_reports_the_build(client):
    r = client.get("/health")
    assert r.status_code == 200
    body = models.Health.model_validate(r.json()).model_dump()
    assert body["status"] == "ok" and body["schema_version"] == 4
    assert body["build"]["dataset_name"] == "fixture"
    assert body["build"]["topn_champion"] == "itemknn" and body["build"]["rating_champion"] == "svd"
    assert body["counts"] == {"users": 2, "movies": 9, "ratings": 1415}
    assert len(body["artifact_sha256"]) == 64
    assert r.headers["cache-control"] == "no-store"


def test_known_user_gets_personal_list_in_rank_order(client):
    r = client.get("/users/1/recommendations", params={"n": 3})
    assert r.status_code == 200
    body = models.UserRecommendations.model_validate(r.json()).model_dump()
    assert body["source"] == "personal"
    assert [i["movie_id"] for i in body["items"]] == [318, 2571, 1221]
    assert [i["rank"] for i in body["items"]] == [1, 2, 3]
    first = body["items"][0]
    assert first == {"rank": 1, "movie_id": 318, "title": "Shawshank Redemption, The (1994)",
                     "display_title": "The Shawshank Redemption", "year": 1994, "genres": ["Crime", "Drama"],
                     "score": 4.9, "because": [
                         {"movie_id": 858, "title": "Godfather, The (1972)", "display_title": "The Godfather",
                          "rating": 5.0, "kind": "similar"},
                         {"movie_id": 1213, "title": "Goodfellas (1990)", "display_title": "Goodfellas",
                          "rating": 4.5, "kind": "similar"}]}
    # stored order: the recent reason first, then the largest similarity contribution first
    assert [(b["movie_id"], b["kind"]) for b in body["items"][2]["because"]] == [
        (2023, "recent"), (858, "similar"), (1213, "similar")]


def test_genre_filters_within_the_users_list(client):
    body = client.get("/users/1/recommendations", params={"genre": "comedy"}).json()
    assert body["source"] == "personal" and body["genre"] == "Comedy"
    assert [i["movie_id"] for i in body["items"]] == [4973, 1]  # user 1's list order, Comedy only


def test_known_user_with_no_match_in_genre_stays_personal_and_empty(client):
    body = client.get("/users/2/recommendations", params={"genre": "Crime"}).json()
    assert body["source"] == "personal" and body["items"] == []


def test_unknown_user_gets_popular_list(client):
    body = client.get("/users/424242/recommendations", params={"n": 2}).json()
    assert body["source"] == "popular"
    assert [i["movie_id"] for i in body["items"]] == [318, 2571]
    drama = client.get("/users/424242/recommendations", params={"genre": "Drama", "n": 2}).json()
    assert drama["source"] == "popular" and [i["movie_id"] for i in drama["items"]] == [318, 858]


def test_movie_and_its_stats(client):
    r = client.get("/movies/858")
    assert r.status_code == 200
    assert models.Movie.model_validate(r.json()).model_dump() == {
        "movie_id": 858, "title": "Godfather, The (1972)", "display_title": "The Godfather", "year": 1972,
        "genres": ["Crime", "Drama"], "imdb_id": "0068646", "tmdb_id": 238, "n_ratings": 192, "mean_rating": 4.29}


def test_movie_with_nulls(client):
    body = client.get("/movies/99999").json()
    assert body["year"] is None and body["mean_rating"] is None and body["imdb_id"] is None


def test_unknown_movie_is_404_with_error_body(client):
    r = client.get("/movies/5")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "movie_not_found", "message": "no movie 5"}}
    assert "etag" not in r.headers
    assert client.get("/movies/5/similar").status_code == 404


def test_similar_movies(client):
    r = client.get("/movies/858/similar", params={"n": 3})
    body = models.SimilarMovies.model_validate(r.json()).model_dump()
    assert [i["title"] for i in body["items"]] == [
        "Godfather: Part II, The (1974)", "Godfather: Part III, The (1990)", "Goodfellas (1990)"]
    assert body["items"][0]["score"] == 0.9 and body["items"][0]["source"] == "itemknn"


def test_movie_without_neighbours_has_empty_similar_list(client):
    body = client.get("/movies/99999/similar").json()
    assert body == {"movie_id": 99999, "variant": "champion", "recommendation_id": body["recommendation_id"],
                    "items": []}
    assert re.fullmatch(r"r[0-9a-f]{24}", body["recommendation_id"])


@pytest.mark.parametrize("query", ["the godfather", "The Godfather", "GODFATHER", "godfather, the"])
def test_search_finds_the_godfather(client, query):
    r = client.get("/movies", params={"search": query})
    body = models.SearchResults.model_validate(r.json()).model_dump()
    assert body["items"][0]["title"] == "Godfather, The (1972)"
    assert set(titles(body)) == {"Godfather, The (1972)", "Godfather: Part II, The (1974)",
                                 "Godfather: Part III, The (1990)"}


@pytest.mark.parametrize("query", ["amelie", "AMÉLIE", "Amélie", "amélie poulain"])
def test_search_is_accent_insensitive(client, query):
    body = client.get("/movies", params={"search": query}).json()
    assert [i["display_title"] for i in body["items"]] == ["Amélie"]


def test_search_words_in_any_order_and_limit(client):
    body = client.get("/movies", params={"search": "part godfather", "limit": 1}).json()
    assert titles(body) == ["Godfather: Part II, The (1974)"]  # more ratings than Part III
    assert client.get("/movies", params={"search": "zzzz"}).json()["items"] == []


def test_popular_overall_and_per_genre(client):
    body = models.PopularMovies.model_validate(client.get("/popular", params={"n": 3}).json()).model_dump()
    assert body["genre"] is None and [i["movie_id"] for i in body["items"]] == [318, 2571, 1]
    assert client.get("/popular?genre=&n=3").json() == body  # empty genre means overall
    comedy = client.get("/popular", params={"genre": "COMEDY"}).json()
    assert comedy["genre"] == "Comedy" and [i["movie_id"] for i in comedy["items"]] == [1, 4973]


def test_liked_aggregates_similar_lists_excluding_inputs(client):
    r = client.get("/recommendations", params={"liked": "858,1213", "n": 10})
    body = models.LikedRecommendations.model_validate(r.json()).model_dump()
    assert body["liked"] == [858, 1213] and body["unknown"] == []
    assert [i["movie_id"] for i in body["items"]] == [1221, 318, 2023]
    assert body["items"][0]["score"] == pytest.approx(1.4)
    # 858 contributes 0.9, 1213 0.5: the larger first, each with the stars it counted as
    assert [(b["movie_id"], b["rating"]) for b in body["items"][0]["because"]] == [(858, 5.0), (1213, 5.0)]
    assert body["items"][0]["because"][0]["display_title"] == "The Godfather"


def test_liked_godfather_includes_part_two(client):
    body = client.get("/recommendations", params={"liked": "858"}).json()
    assert "Godfather: Part II, The (1974)" in titles(body)
    assert 858 not in [i["movie_id"] for i in body["items"]]


def test_liked_accepts_repeated_parameter_and_reports_unknown_ids(client):
    body = client.get("/recommendations?liked=858&liked=5").json()
    assert body["liked"] == [858] and body["unknown"] == [5]


def test_liked_with_only_unknown_ids_is_404(client):
    r = client.get("/recommendations", params={"liked": "5,6"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "movie_not_found"


@pytest.mark.parametrize("url", [
    "/popular?n=0", "/popular?n=101", "/popular?n=abc", "/movies?search=godfather&limit=0",
    "/movies?search=godfather&limit=101", "/users/0/recommendations", "/users/-3/recommendations",
    "/users/abc/recommendations", "/movies/0", "/movies/99999999999", "/movies/858/similar?n=500",
    "/recommendations?liked=", "/recommendations?liked=0", "/recommendations?liked=-1",
    "/recommendations?liked=1.5", "/recommendations?liked=858,x", "/recommendations",
    "/recommendations?liked=" + ",".join(str(i) for i in range(1, 52)),
    "/recommendations?ratings=", "/recommendations?ratings=858", "/recommendations?ratings=858:0",
    "/recommendations?ratings=858:5.5", "/recommendations?ratings=858:4.2", "/recommendations?ratings=858:x",
    "/recommendations?ratings=858:nan", "/recommendations?ratings=858:inf", "/recommendations?ratings=x:5",
    "/recommendations?ratings=0:5", "/recommendations?ratings=858:5,858:1", "/recommendations?ratings=858:%EF%BC%95",
    "/recommendations?ratings=858:5&liked=1213",
    "/recommendations?ratings=" + ",".join(f"{i}:4" for i in range(1, 52)),
    "/movies", "/movies?search=", "/movies?search=%21%21", "/popular?genre=Nonsense",
])
def test_bad_parameters_are_422_json_errors(client, url):
    r = client.get(url)
    assert r.status_code == 422, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] in {"invalid_parameter", "unknown_genre"}
    assert "Traceback" not in r.text


def test_fifty_liked_ids_are_allowed(client):
    ids = ",".join(["858"] + [str(i) for i in range(100000, 100049)])
    assert client.get(f"/recommendations?liked={ids}").status_code == 200


def test_unknown_route_and_method_are_json_errors(client):
    r = client.get("/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.post("/popular")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_responses_carry_build_etag_and_max_age(client, settings):
    a = client.get("/movies/858")
    b = client.get("/popular")
    assert a.headers["etag"] == b.headers["etag"] == client.get("/health").headers["etag"]
    assert a.headers["etag"].startswith('"') and a.headers["etag"].endswith('"')
    assert a.headers["cache-control"] == f"public, max-age={settings.cache_max_age}"
    assert a.headers["content-type"] == "application/json"


@pytest.mark.parametrize("header", ["{etag}", "W/{etag}", '"other", {etag}', "*"])
def test_if_none_match_gives_empty_304(client, header):
    etag = client.get("/movies/858").headers["etag"]
    r = client.get("/movies/858", headers={"If-None-Match": header.format(etag=etag)})
    assert r.status_code == 304 and r.content == b""
    assert r.headers["etag"] == etag and "max-age" in r.headers["cache-control"]


def test_stale_etag_gets_the_body(client):
    r = client.get("/movies/858", headers={"If-None-Match": '"stale"'})
    assert r.status_code == 200 and r.json()["movie_id"] == 858


def test_errors_are_never_304(client):
    etag = client.get("/movies/858").headers["etag"]
    assert client.get("/movies/5", headers={"If-None-Match": etag}).status_code == 404


def test_openapi_documents_every_endpoint_and_error_shape(client):
    spec = client.get("/openapi.json").json()
    for path in ["/health", "/users/{user_id}/recommendations", "/movies/{movie_id}", "/movies/{movie_id}/similar",
                 "/movies", "/popular", "/recommendations"]:
        assert "get" in spec["paths"][path], path
    reco = spec["paths"]["/users/{user_id}/recommendations"]["get"]["responses"]
    assert reco["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_recommend_is_documented_as_the_short_form_and_answers_the_same(client):
    spec = client.get("/openapi.json").json()["paths"]
    short, long = spec["/recommend/{user_id}"]["get"], spec["/users/{user_id}/recommendations"]["get"]
    assert "short form" in short["summary"] and "/users/{user_id}/recommendations" in short["description"]
    assert short["parameters"] == long["parameters"] and short["responses"] == long["responses"]
    for query in ("", "?n=2", "?genre=comedy&n=5"):
        assert client.get(f"/recommend/2{query}").json() == client.get(f"/users/2/recommendations{query}").json()
    assert client.get("/recommend/77").json()["source"] == "popular"
    assert client.get("/recommend/x").json()["error"]["code"] == "invalid_parameter"


def test_search_terms_fold_like_the_build():
    from latentlens.handler.routes.movies import search_terms

    assert search_terms("  The GODFATHER: ") == (["godfather"], "the godfather", "godfather")
    assert search_terms("Amélie") == (["amelie"], "amelie", "amelie")
    assert search_terms("the") == (["the"], "the", "the")  # a lone article is still a word to find


def test_exact_display_title_beats_popularity(tmp_path):
    from fastapi.testclient import TestClient

    from latentlens.handler.app import create_app
    from tests.handler.conftest import make_settings
    from tests.handler.fixture_artifact import MOVIES, build_fixture_artifact

    # Here "The Godfather" has the fewest ratings of the three; it still comes first as the exact title.
    movies = [(*m[:7], 1, *m[8:]) if m[0] == 858 else m for m in MOVIES]
    db = build_fixture_artifact(tmp_path / "a.duckdb", movies=movies)
    app = create_app(make_settings(db, tmp_path))
    try:
        body = TestClient(app).get("/movies", params={"search": "the godfather", "limit": 3}).json()
        assert [i["movie_id"] for i in body["items"]] == [858, 1221, 2023]
        body = TestClient(app).get("/movies", params={"search": "godfather", "limit": 3}).json()
        assert [i["movie_id"] for i in body["items"]] == [1221, 2023, 858]  # no exact title: popularity
    finally:
        app.state.store.close()


def test_user_recommendations_from_the_popular_list_have_no_reasons(client):
    body = client.get("/users/424242/recommendations", params={"n": 2}).json()
    assert body["source"] == "popular" and [i["because"] for i in body["items"]] == [[], []]


def test_ratings_with_all_five_stars_equal_liked(client):
    liked = client.get("/recommendations", params={"liked": "858,1213"}).json()
    rated = client.get("/recommendations", params={"ratings": "858:5,1213:5"}).json()
    assert rated["items"] == liked["items"] and rated["ratings"] == {"858": 5.0, "1213": 5.0}


def test_a_low_rating_counts_against_its_neighbours(client):
    """858's list: 1221 0.9, 2023 0.7, 1213 0.6, 318 0.5; 1213's: 858 0.6, 318 0.55, 1221 0.5.
    Goodfellas at 1 star (weight -1) pulls 1221 to 0.9 - 0.5, 318 to 0.5 - 0.55 (dropped)."""
    r = client.get("/recommendations", params={"ratings": "858:5,1213:1"})
    body = models.LikedRecommendations.model_validate(r.json()).model_dump()
    assert body["liked"] == [858, 1213] and body["ratings"] == {"858": 5.0, "1213": 1.0}
    scores = {i["movie_id"]: i["score"] for i in body["items"]}
    assert list(scores) == [2023, 1221]
    assert scores[2023] == pytest.approx(0.7) and scores[1221] == pytest.approx(0.4)
    assert all([b["movie_id"] for b in i["because"]] == [858] for i in body["items"])  # never the 1-star movie


def test_half_stars_weigh_by_distance_from_three(client):
    body = client.get("/recommendations", params={"ratings": "858:4,1213:4.5"}).json()
    first = body["items"][0]  # 1221: 0.9 * 0.5 + 0.5 * 0.75
    assert first["movie_id"] == 1221 and first["score"] == pytest.approx(0.825)
    assert [(b["movie_id"], b["rating"]) for b in first["because"]] == [(858, 4.0), (1213, 4.5)]


def test_only_low_ratings_recommend_nothing_rather_than_their_neighbours(client):
    body = client.get("/recommendations", params={"ratings": "858:1"}).json()
    assert body["items"] == []


def test_ratings_report_unknown_ids_and_404_when_none_is_known(client):
    body = client.get("/recommendations?ratings=858:5&ratings=5:3").json()
    assert body["liked"] == [858] and body["unknown"] == [5]
    r = client.get("/recommendations", params={"ratings": "5:5,6:1"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "movie_not_found"


def test_because_lists_at_most_three_movies(client):
    body = client.get("/recommendations", params={"ratings": "858:5,1213:5,2023:5,1221:5", "n": 5}).json()
    assert body["items"] and all(len(i["because"]) <= 3 for i in body["items"])
    s318 = next(i for i in body["items"] if i["movie_id"] == 318)
    assert [b["movie_id"] for b in s318["because"]] == [1213, 858]  # 0.55 before 0.5


def test_ratings_in_order_blend_in_what_is_rated_next_after_the_latest(client):
    """858 then 1221 (the latest): 1221's followers join the similar lists, scaled by their score over the list's
    best (2023 0.9/0.9, 4973 0.3/0.9) x RECENT_WEIGHT x 1221's best similarity (0.9), and their first reason is
    1221, kind "recent"."""
    body = models.LikedRecommendations.model_validate(
        client.get("/recommendations", params={"ratings": "858:5,1221:5"}).json()).model_dump()
    got = {i["movie_id"]: (i["score"], [(b["movie_id"], b["kind"]) for b in i["because"]]) for i in body["items"]}
    assert list(got) == [2023, 1213, 318, 4973]
    assert got[2023][0] == pytest.approx(0.7 + 0.8 + 0.5 * 0.9)
    assert got[2023][1] == [(1221, "recent"), (858, "similar")]  # 1221 named once, as the recent one
    assert got[4973] == (pytest.approx(0.5 * 0.9 * 0.3 / 0.9), [(1221, "recent")])
    assert all(kind == "similar" for m in (1213, 318) for _, kind in got[m][1])


def test_the_order_given_decides_what_is_recent(client):
    """1221 listed first and followed by three more is no longer among the latest RECENT_N: no recent part."""
    late = client.get("/recommendations", params={"ratings": "858:5,1221:5"}).json()
    early = client.get("/recommendations", params={"ratings": "1221:5,858:5,1213:4,318:4"}).json()
    assert any(b["kind"] == "recent" for i in late["items"] for b in i["because"])
    assert all(b["kind"] == "similar" for i in early["items"] for b in i["because"])
    assert 4973 not in [i["movie_id"] for i in early["items"]]  # only a follower of 1221


def test_a_disliked_latest_movie_pushes_its_followers_down(client):
    liked = {i["movie_id"]: i["score"] for i in client.get("/recommendations",
                                                          params={"ratings": "858:5,1221:5", "n": 20}).json()["items"]}
    disliked = {i["movie_id"]: i["score"] for i in client.get(
        "/recommendations", params={"ratings": "858:5,1221:1", "n": 20}).json()["items"]}
    assert 4973 in liked and 2023 in liked
    assert 4973 not in disliked and 2023 not in disliked  # 2023: 0.7 - 0.8 - 0.45 < 0


def test_the_page_is_one_small_self_contained_document(client):
    import re

    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert len(r.content) < 100_000
    assert "/*APP_JS*/" not in html and "/*APP_CSS*/" not in html and "function openMovie" in html
    # nothing loads from elsewhere: the only absolute URLs are the IMDb and TMDB links it builds (the inline icon's
    # SVG namespace is a name, never fetched)
    urls = set(re.findall(r"(?<!xmlns=')https?://[^/\"']+", html))
    assert urls == {"https://www.imdb.com", "https://www.themoviedb.org"}
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"/", html)  # no root-absolute asset either
    assert 'fetch(BASE + path' in html  # API calls relative to where the page was served


def test_docs_load_swagger_from_this_app_by_relative_urls(client):
    html = client.get("/docs").text
    assert "docs/assets/swagger-ui-bundle.js" in html and "docs/assets/swagger-ui.css" in html
    assert "cdn" not in html.lower() and "'openapi.json'" in html or '"openapi.json"' in html
    js = client.get("/docs/assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"] and len(js.content) > 100_000
    assert client.get("/docs/assets/swagger-ui.css").headers["content-type"].startswith("text/css")
    r = client.get("/docs/assets/..%2F..%2Fapp.py")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_every_asset_of_the_docs_pages_is_served_by_this_app(client, page):
    """Whatever /docs and /redoc reference (scripts, styles, icons, the schema) resolves to this app and
    is answered by it; nothing points at another host (FastAPI's own pages load from two CDNs)."""
    import re
    from urllib.parse import urljoin, urlsplit

    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    absolute = [u for u in re.findall(r"""https?://[^\s"'<>)]+""", html) if urlsplit(u).hostname != "127.0.0.1"]
    assert absolute == []
    refs = (re.findall(r"""(?:src|href|spec-url)=["']([^"']+)["']""", html)
            + re.findall(r"""url: ?["']([^"']+)["']""", html))
    assert "openapi.json" in refs and any(ref.endswith(".js") for ref in refs), refs
    base = "http://testserver" + page
    for ref in refs:
        url = urljoin(base, ref)
        assert urlsplit(url).netloc == "testserver", (page, ref)
        asset = client.get(urlsplit(url).path)
        assert asset.status_code == 200 and len(asset.content) > 0, (page, ref, asset.status_code)


def test_genres_lists_the_catalogues_genres(client):
    assert client.get("/genres").json() == {"genres": ["(no genres listed)", "Action", "Adventure", "Animation",
                                                       "Children", "Comedy", "Crime", "Drama", "Fantasy", "Mystery",
                                                       "Romance", "Sci-Fi", "Thriller"]}


def test_an_id_that_is_not_plain_digits_is_explained_in_our_words(client):
    body = client.get("/movies/+1").json()
    assert body["error"] == {"code": "invalid_parameter",
                             "message": "movie_id: must be a positive integer in ASCII digits (0-9), e.g. 858"}
