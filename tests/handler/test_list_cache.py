"""The fold's list cache: what it answers is what the artifact holds, each list is read once, and a full cache
starts over without losing an answer."""

from __future__ import annotations

import pytest

from latentlens.handler.list_cache import ListCache

ROWS = {1: [(1, 10, 0.5), (1, 11, 0.25)], 2: [(2, 10, 0.125)], 3: []}


class Reader:
    """RowSource.neighbours over ROWS, counting the ids it was asked for."""

    def __init__(self) -> None:
        self.asked: list[list[int]] = []

    def __call__(self, movie_ids: list[int]) -> list:
        self.asked.append(list(movie_ids))
        return [row for movie_id in reversed(movie_ids) for row in ROWS.get(movie_id, [])]  # any order


def test_lists_are_the_rows_grouped_by_movie_in_id_order_and_each_is_read_once() -> None:
    cache, read = ListCache(), Reader()
    first = cache.lists([2, 1, 3, 99], read)
    assert first == {1: {10: 0.5, 11: 0.25}, 2: {10: 0.125}}
    assert list(first) == [1, 2]  # id order, whatever order they were asked in
    again = cache.lists([3, 1, 2, 99, 4], read)
    assert again == first
    assert read.asked == [[1, 2, 3, 99], [4]]  # a movie without a list is remembered too


def test_scores_are_kept_exactly() -> None:
    score = 0.1 + 0.2  # not representable in 32 bits
    cache = ListCache()
    cache.lists([5], lambda ids: [(5, 6, score)])
    assert cache.lists([5], lambda ids: pytest.fail("read again"))[5][6] == score


def test_a_full_cache_starts_over_and_still_answers() -> None:
    cache, read = ListCache(max_entries=4), Reader()
    assert cache.lists([1], read) == {1: {10: 0.5, 11: 0.25}}  # 3 entries: two neighbours and the movie
    assert cache.lists([2], read) == {2: {10: 0.125}}  # 3 more: over 4, so it started over with movie 2 alone
    assert cache.lists([1, 2], read) == {1: {10: 0.5, 11: 0.25}, 2: {10: 0.125}}
    assert read.asked == [[1], [2], [1]]
