"""The lazily read movie map (handler.movie_map.LazyMovies) over the real fixture artifact: it reads what answers
name, one query for a whole list, and a walk over it sees every movie in the artifact's order."""

from __future__ import annotations

import threading

import duckdb
import pytest

from latentlens.handler.movie_map import LazyMovies, genre_spellings
from tests.handler.fixture_artifact import MOVIES


class CountingConnection:
    """A real DuckDB connection whose cursors count the queries run through them."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn, self.queries = conn, 0

    def cursor(self):
        outer = self

        class Cursor:
            def __init__(self) -> None:
                self.cur = outer.conn.cursor()

            def execute(self, *args):
                outer.queries += 1
                return self.cur.execute(*args)

            def close(self) -> None:
                self.cur.close()

        return Cursor()


@pytest.fixture
def artifact(fixture_copy):
    """A private copy: DuckDB refuses to open one file twice in a process with different settings, and the
    handler tests open the shared fixture artifact with theirs."""
    return fixture_copy


def open_counting(artifact) -> tuple[CountingConnection, LazyMovies]:
    counting = CountingConnection(duckdb.connect(str(artifact), read_only=True))
    return counting, LazyMovies(counting)  # type: ignore[arg-type]


def test_nothing_is_read_until_asked_and_a_list_is_one_query(artifact) -> None:
    counting, movies = open_counting(artifact)
    assert counting.queries == 0
    movies.want([858, 1221, 999_999])
    assert counting.queries == 1
    assert movies.get(858).title == "Godfather, The (1972)" and movies[1221].year == 1974
    assert movies.get(999_999) is None and 999_999 not in movies  # absent, and remembered as such
    assert counting.queries == 1


def test_a_lookup_of_an_unread_id_reads_it_alone(artifact) -> None:
    counting, movies = open_counting(artifact)
    assert 318 in movies and counting.queries == 1
    assert movies[318].genres == ["Crime", "Drama"]
    assert counting.queries == 1


def test_a_walk_sees_every_movie_in_the_artifacts_order(artifact) -> None:
    _, movies = open_counting(artifact)
    movies.want([2023, 1])  # read out of order first
    assert list(movies) == [m[0] for m in MOVIES]
    assert len(movies) == len(MOVIES)
    assert [row.title for row in movies.values()] == [m[1] for m in MOVIES]


def test_threads_reading_at_once_all_see_every_movie(artifact) -> None:
    _, movies = open_counting(artifact)
    ids = [m[0] for m in MOVIES]
    seen: list[list[str | None]] = []

    def look() -> None:
        movies.want(ids)
        seen.append([(row.title if (row := movies.get(i)) else None) for i in ids])

    threads = [threading.Thread(target=look) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [[m[1] for m in MOVIES]] * 8


def test_genre_spellings_are_every_genre_of_the_catalogue(artifact) -> None:
    conn = duckdb.connect(str(artifact), read_only=True)
    try:
        assert genre_spellings(conn) == {g.casefold(): g for m in MOVIES for g in m[4]}
    finally:
        conn.close()
