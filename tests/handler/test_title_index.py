"""The in-memory title search and the Python-summed "liked" lists give the answers of the SQL they replaced.

The SQL below is the specification (it was the handler's query until the scans proved the
slowest lookups at ML-25M); random catalogues with tied popularity, shared words, articles and
accents exercise every path of the index, with thresholds small enough to force each one.
"""

from __future__ import annotations

import itertools
import random

import duckdb
import pytest

from latentlens.handler import queries
from latentlens.handler.artifact import open_artifact
from latentlens.handler.routes.movies import search_terms
from latentlens.handler.schema import search_key
from latentlens.handler.title_index import TitleIndex, edit_distance, word_key
from tests.handler.conftest import make_settings
from tests.handler.fixture_artifact import SIMILAR

SEARCH_SQL = ("SELECT movie_id FROM movies WHERE {conds} ORDER BY starts_with(search_key, ?) DESC, "
              "(starts_with(search_key, ?) OR starts_with(search_key, ?)) DESC, ({word_starts}) DESC, "
              "n_ratings DESC, movie_id LIMIT ?")

LIKED_SQL = ("SELECT similar_movie_id, sum(score) AS score, list(movie_id ORDER BY movie_id) AS because "
             "FROM similar_movies WHERE movie_id = ANY(?) AND NOT similar_movie_id = ANY(?) "
             "GROUP BY similar_movie_id ORDER BY score DESC, len(because) DESC, similar_movie_id LIMIT ?")

WORDS = ["the", "godfather", "part", "ii", "star", "wars", "love", "lovers", "night", "knight", "of", "a",
         "man", "woman", "amélie", "café", "la", "vie", "zoo", "toy", "story", "story:", "return", "x", "2"]


def random_catalogue(rng: random.Random, n: int) -> list[tuple[int, int, str]]:
    rows = []
    for movie_id in rng.sample(range(1, 10 * n), n):
        words = rng.choices(WORDS, k=rng.randint(1, 5))
        display = " ".join(words).capitalize()
        title = f"{display} ({rng.randint(1920, 2020)})"
        if words[0] in ("the", "a", "la") and len(words) > 1:  # MovieLens moves a leading article to the end
            title = f"{' '.join(words[1:])}, {words[0]} ({rng.randint(1920, 2020)})"
        rows.append((movie_id, rng.randint(0, 30), search_key(f"{display} | {title}")))
    return rows


def random_queries(rng: random.Random, rows: list[tuple[int, int, str]], n: int) -> list[str]:
    out = ["the godfather", "a", "e", "the", "zzzz", "e zzzz", "night of the", "amelie", "AMÉLIE", "star wars",
           "love", "ove", "x 2", "part ii", "the the"]
    for _ in range(n):
        key = rng.choice(rows)[2]
        display = key.split(" | ")[0]
        i = rng.randrange(len(display))
        out.append(rng.choice([display, display[:rng.randint(1, len(display))], display[i:i + rng.randint(1, 8)],
                               " ".join(rng.sample(WORDS, 2)), "the " + display]))
    return out


def sql_search(con: duckdb.DuckDBPyConnection, tokens, phrase, stripped, limit) -> list[int]:
    """The specification: every token contained; exact display title, then title prefix, then every token
    starting a word (`word_key`), then most rated, then lowest id."""
    starts = [word_key(t) for t in tokens]
    sql = SEARCH_SQL.format(conds=" AND ".join(["contains(search_key, ?)"] * len(tokens)),
                            word_starts=(" AND ".join(["contains(word_key, ?)"] * len(starts)) if all(starts)
                                         else "false"))
    args = [*tokens, phrase + " |", phrase, stripped, *(starts if all(starts) else []), limit]
    return [r[0] for r in con.execute(sql, args).fetchall()]


def is_correction(key: str, tokens: list[str]) -> bool:
    """A typo-tier hit: each token is in the key, or one edit from one of its words."""
    words = word_key(key).split()
    return all(t in key or any(edit_distance(t, w) <= 1 for w in words) for t in tokens)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("thresholds", [{}, {"small_range": 2, "few_words": 2, "few_rows": 10}],
                         ids=["default", "tiny-thresholds"])
def test_search_matches_the_sql_it_replaced(seed, thresholds):
    rng = random.Random(seed)
    rows = random_catalogue(rng, 1500)
    con = duckdb.connect()
    con.execute("CREATE TABLE movies (movie_id INTEGER, n_ratings INTEGER, search_key VARCHAR, word_key VARCHAR)")
    con.executemany("INSERT INTO movies VALUES (?, ?, ?, ?)", [(*r, word_key(r[2])) for r in rows])
    index = TitleIndex(rows, **thresholds)
    key_of = {movie_id: key for movie_id, _, key in rows}
    checked = corrected = 0
    for query in random_queries(rng, rows, 150):
        tokens, phrase, stripped = search_terms(query)
        if not tokens:
            continue
        for limit in (1, 7, 100):
            expected = sql_search(con, tokens, phrase, stripped, limit)
            got = [index.movie_ids[r] for r in index.search(tokens, phrase, stripped, limit)]
            if expected or not got:
                assert got == expected, (query, limit)
            else:  # nothing contains a token: what comes back are typo corrections
                assert all(is_correction(key_of[m], tokens) for m in got), (query, got)
                corrected += 1
            checked += bool(expected)
    assert checked > 300  # most queries find something, so the comparison is not of empty lists


def test_search_tiers_and_each_rows_popularity():
    index = TitleIndex([(5, 3, "b | b"), (2, 9, "a b | a b"), (7, 9, "b c | b c"), (1, 9, "c | c")])
    rows = index.search(["b"], "b", "b", 10)
    # exact display title, then a title starting with the query, then any title containing it
    assert [(index.movie_ids[r], index.n_ratings[r]) for r in rows] == [(5, 3), (7, 9), (2, 9)]
    assert TitleIndex([]).search(["b"], "b", "b", 10) == []


def test_a_whole_word_hit_ranks_above_a_more_rated_substring_hit():
    index = TitleIndex([(1, 90, "dilemma | dilemma (2011)"), (2, 5, "emma | emma (1996)"),
                        (3, 80, "jane austen's emma | emma (2009)"), (4, 99, "gemmas | gemmas (2000)")])
    terms = search_terms("emma")
    assert [index.movie_ids[r] for r in index.search(*terms, 10)] == [2, 3, 4, 1]  # exact, whole word, substrings
    assert [index.movie_ids[r] for r in index.search(*search_terms("emm"), 10)] == [2, 3, 4, 1]  # as typed


@pytest.mark.parametrize("query, expected", [("godfathr", 858), ("amelei", 4973), ("godfahter part", 1221),
                                             ("the goddfather", 858), ("Amelie", 4973)])
def test_a_typo_still_finds_the_movie(query, expected):
    index = TitleIndex([(858, 192, search_key("The Godfather | Godfather, The (1972)")),
                        (1221, 129, search_key("The Godfather: Part II | Godfather: Part II, The (1974)")),
                        (4973, 120, search_key("Amélie | Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)")),
                        (7, 300, search_key("Father of the Bride | Father of the Bride (1991)"))])
    got = [index.movie_ids[r] for r in index.search(*search_terms(query), 10)]
    assert got and got[0] == expected, got
    assert 7 not in got  # "father" is a substring of the typo's correction, not a correction


def test_typos_need_four_letters_and_one_edit():
    index = TitleIndex([(1, 5, "heat | heat (1995)"), (2, 5, "godfather | godfather (1972)")])
    assert index.search(*search_terms("hexa"), 10) == []  # two edits from "heat"
    assert index.search(*search_terms("hea"), 10) == [0]  # a prefix, not a typo
    assert index.search(*search_terms("hxt"), 10) == []  # too short to guess
    assert [index.movie_ids[r] for r in index.search(*search_terms("haet"), 10)] == [1]  # transposition


def test_edit_distance():
    assert [edit_distance(a, b) for a, b in [("amelie", "amelei"), ("godfathr", "godfather"), ("heat", "heat"),
                                             ("", "ab"), ("kitten", "sitting")]] == [1, 1, 0, 2, 3]


class SimilarOnly(queries.DuckDBRows):
    """The similar lists alone: the part of `liked` that the SQL below computed (next_movies came later)."""

    def following(self, movie_ids: list[int]) -> list:
        return []


def test_liked_matches_the_sql_it_replaced(artifact, tmp_path):
    art = open_artifact(str(artifact), make_settings(artifact, tmp_path))
    cur = art.conn.cursor()
    compared = 0
    for size in (1, 2, 3, 8):
        for liked in itertools.combinations(sorted(SIMILAR), size):
            for n in (1, 3, 10):
                expected = [(sid, score, because) for sid, score, because in
                            cur.execute(LIKED_SQL, [list(liked), list(liked), n]).fetchall()]
                got = [(i["movie_id"], i["score"], sorted(b["movie_id"] for b in i["because"]))
                       for i in queries.liked(art, SimilarOnly(cur), list(liked), n)]
                # `because` keeps the largest 3 contributions; the SQL lists every contributor
                assert [s for s, _, _ in got] == [s for s, _, _ in expected], (liked, n)
                assert all(set(b) <= set(e) and len(b) == min(3, len(e))
                           for (_, _, b), (_, _, e) in zip(got, expected, strict=True))
                assert [sc for _, sc, _ in got] == pytest.approx([sc for _, sc, _ in expected])
                compared += 1
    art.conn.close()
    assert compared > 100
