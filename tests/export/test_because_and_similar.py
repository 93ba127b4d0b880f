"""The export's explanations (`because`) and blended similar lists, on hand-made data with known answers."""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from latentlens.build.export.because import Reasons, explain, latest_rated, recent_reasons, with_recent
from latentlens.build.export.similar import SimilarSettings, blended_neighbours, co_raters
from latentlens.build.export.tables import because_column, next_movies, user_recommendations
from latentlens.build.interactions import Interactions, Vocabulary


def interactions(rows: list[tuple[int, int, float]], n_users: int, n_items: int,
                 timestamps: list[int] | None = None) -> Interactions:
    u, i, r = (np.array(c) for c in zip(*rows, strict=True))
    return Interactions(users=Vocabulary(np.arange(n_users) + 100), items=Vocabulary(np.arange(n_items) + 10),
                        user_idx=u.astype(np.int32), item_idx=i.astype(np.int32), rating=r.astype(np.float32),
                        timestamp=np.asarray(timestamps if timestamps is not None else np.zeros(len(rows)),
                                             dtype=np.int64))


def test_because_is_the_largest_similarity_times_centred_rating():
    # user 0 rated items 0 (5), 1 (4), 2 (1), 3 (2): mean 3, so centred +2, +1, -2, -1
    data = interactions([(0, 0, 5.0), (0, 1, 4.0), (0, 2, 1.0), (0, 3, 2.0), (1, 4, 3.0)], 2, 6)
    # item 5's neighbours: 0 (0.2), 1 (0.9), 2 (0.8): contributions 0.4, 0.9, -1.6
    knn = sp.csr_matrix((np.array([0.2, 0.9, 0.8], np.float32), ([5, 5, 5], [0, 1, 2])), shape=(6, 6))
    # item 4 has no item-kNN neighbour the user rated; content says 3 (0.5) and 0 (0.1): only 0 is positive
    content = sp.csr_matrix((np.array([0.5, 0.1], np.float32), ([4, 4], [3, 0])), shape=(6, 6))
    reasons = explain(np.array([0, 0, 1]), np.array([5, 4, 5]), data, [knn, content], n=3)
    assert reasons.items.tolist() == [[1, 0, -1], [0, -1, -1], [-1, -1, -1]]
    assert reasons.ratings[0, :2].tolist() == [4.0, 5.0] and reasons.ratings[1, 0] == 5.0
    column = because_column(reasons, data.items)
    assert column.to_list() == [[{"movie_id": 11, "rating": 4.0, "kind": "similar"},
                                 {"movie_id": 10, "rating": 5.0, "kind": "similar"}],
                                [{"movie_id": 10, "rating": 5.0, "kind": "similar"}], []]


def test_reasons_are_stored_for_the_first_ranks_only():
    """The export asks for reasons of ranks 1..explained_ranks of each list, counted after dropping padding,
    and stores an empty list for the later ranks."""
    data = interactions([(0, 0, 5.0), (1, 1, 4.0), (2, 2, 3.0)], 3, 6)
    items = np.array([[1, 2, 3, 4], [-1, -1, -1, -1], [3, 4, 5, -1]])  # user 1 has nothing, user 2 three picks
    scores = np.where(items >= 0, 1.0 - np.arange(4) / 10, -np.inf)
    asked = []

    def explain(users: np.ndarray, movies: np.ndarray) -> Reasons:
        asked.append(list(zip(users.tolist(), movies.tolist(), strict=True)))
        return Reasons(np.stack([movies, -np.ones_like(movies)], axis=1), np.full((users.size, 2), 4.5, np.float32))

    frame = user_recommendations(data, items, scores, explain, explained_ranks=2)
    assert asked == [[(0, 1), (0, 2), (2, 3), (2, 4)]]  # one call, the first two ranks of each list
    got = {(u, r): [b["movie_id"] for b in because]
           for u, r, because in zip(frame["user_id"], frame["rank"], frame["because"].to_list(), strict=True)}
    assert got == {(100, 1): [11], (100, 2): [12], (100, 3): [], (100, 4): [],
                   (102, 1): [13], (102, 2): [14], (102, 3): []}


def test_co_raters_are_counted_for_pairs_with_a_rare_movie():
    # items 0 and 1 share users 0, 1, 2; item 2 shares user 0 with item 0
    rows = [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1), (3, 1), (0, 2)]
    binary = sp.csr_matrix((np.ones(len(rows), np.float32), tuple(zip(*rows, strict=True))), shape=(4, 3))
    n = np.array([3, 4, 1])
    got = co_raters(binary, np.array([0, 0, 1, 2]), np.array([1, 2, 2, 0]), n, exact_below=10)
    assert got.tolist() == [3, 1, 1, 1]
    assert co_raters(binary, np.array([0]), np.array([1]), n, exact_below=3).tolist() == [-1]  # both have >= 3


def test_blend_drops_neighbours_without_enough_co_raters_and_leans_on_content_when_rare():
    # item 0: 4 raters (users 0-3); item 1 shares all four; item 2 shares one; item 3 is content-only
    rows = [(u, 0) for u in range(4)] + [(u, 1) for u in range(4)] + [(0, 2)] + [(5, 3)]
    binary = sp.csr_matrix((np.ones(len(rows), np.float32), tuple(zip(*rows, strict=True))), shape=(6, 4))
    n_ratings = np.asarray(binary.sum(axis=0)).ravel().astype(np.int64)
    cf = (np.array([[2, 1], [0, -1], [0, -1], [-1, -1]]),
          np.array([[0.9, 0.5], [0.5, -np.inf], [0.9, -np.inf], [-np.inf, -np.inf]]))
    content = (np.array([[3, 1], [-1, -1], [-1, -1], [0, -1]]),
               np.array([[0.8, 0.4], [-np.inf, -np.inf], [-np.inf, -np.inf], [0.8, -np.inf]]))
    settings = SimilarSettings(min_co_raters=3, exact_below=100, blend_ratings=4.0)
    frame = blended_neighbours(cf, content, binary, n_ratings, min_cf_ratings=2, n=5, settings=settings)
    lists = {i: list(zip(g["cand"], g["source"], g["score"].round(4), strict=True))
             for (i,), g in frame.sort(["item", "pos"]).group_by(["item"], maintain_order=True)}
    # item 0 (4 ratings, w = 0.5): item 2 dropped (1 co-rater); 1 = 0.5 * 1.0 (cf scaled by its list's best,
    # now 0.5 alone) + 0.5 * 0.4 / 0.8; 3 = 0.5 * 0.8 / 0.8
    assert lists[0] == [(1, "cf", 0.75), (3, "content", 0.5)]
    # item 2 (1 rating) is below min_cf_ratings: no cf at all; item 3 lists 0 by content alone
    assert 2 not in lists and lists[3] == [(0, "content", 1.0)]
    assert lists[1] == [(0, "cf", 0.5)]  # 4 co-raters, w = 0.5, no content neighbours
    assert isinstance(frame, pl.DataFrame)


def test_top_in_runs_equals_the_sorting_top_n():
    from latentlens.build.export.because import top_in_runs
    from latentlens.build.models.ranking import top_entries_per_row

    rng = np.random.default_rng(0)
    for _ in range(100):
        rows = np.sort(rng.integers(0, 30, 300))
        cols = np.concatenate([np.sort(rng.choice(1000, (rows == r).sum(), replace=False)) for r in np.unique(rows)])
        values = rng.integers(0, 5, 300) + 0.5  # many ties: broken by the lower col in both
        got = top_in_runs(rows, cols, values, 3)
        want = top_entries_per_row(rows, cols, values, 3)
        assert sorted(zip(*got, strict=True)) == sorted(zip(want[0], want[1], want[3], strict=True))


def test_because_equals_a_per_pair_loop_across_many_user_blocks(monkeypatch):
    """Blocks of 3 users (the buffers are filled and cleared per block), pairs in random order."""
    import latentlens.build.export.because as because

    monkeypatch.setattr(because, "USERS_PER_BLOCK", 3)
    rng = np.random.default_rng(4)
    n_users, n_items = 20, 30
    rows = [(u, i, float(rng.integers(1, 11)) / 2) for u in range(n_users)
            for i in rng.choice(n_items, int(rng.integers(3, 12)), replace=False)]
    data = interactions(rows, n_users, n_items)
    def random_sims(density):
        m = sp.random(n_items, n_items, density=density, random_state=rng, dtype=np.float32, format="csr")
        m.setdiag(0)
        m.eliminate_zeros()
        return m
    knn, content = random_sims(0.15), random_sims(0.3)
    users = rng.integers(0, n_users, 200)
    items = rng.integers(0, n_items, 200)
    got = explain(users, items, data, [knn, content], n=3)
    rated = {}
    for u, i, r in rows:
        rated.setdefault(u, {})[i] = r
    for p, (u, j) in enumerate(zip(users.tolist(), items.tolist(), strict=True)):
        mean = np.mean(list(rated[u].values()))
        expected = []
        for sims in (knn.toarray(), content.toarray()):
            contrib = [(-(sims[j, i] * np.float32(r - mean)), i) for i, r in rated[u].items()
                       if sims[j, i] * (r - mean) > 0]
            expected = [i for _, i in sorted(contrib)[:3]]
            if expected:
                break
        assert got.items[p][got.items[p] >= 0].tolist() == expected, (u, j)
        assert got.ratings[p][: len(expected)].tolist() == [rated[u][i] for i in expected]


def test_latest_rated_follows_the_order_rule_ties_by_file_position():
    # user 0: item 3 at t=5, then items 1 and 0 both at t=9 (0 written last: the latest), item 2 at t=1
    data = interactions([(0, 3, 4.0), (0, 1, 2.0), (0, 0, 5.0), (0, 2, 3.0), (1, 4, 1.0)], 2, 6,
                        timestamps=[5, 9, 9, 1, 7])
    items, stars = latest_rated(data.histories, 3)
    assert items.tolist() == [[0, 1, 3], [4, -1, -1]]
    assert stars.tolist() == [[5.0, 2.0, 4.0], [1.0, 0.0, 0.0]]


def test_recent_reasons_name_the_latest_liked_rating_the_pick_follows():
    # user 0 (mean 3.5): latest 0 (5 stars), 1 (2 stars, below the mean), 3 (4 stars), then 2
    data = interactions([(0, 3, 4.0), (0, 1, 2.0), (0, 0, 5.0), (0, 2, 3.0), (1, 4, 1.0)], 2, 6,
                        timestamps=[5, 9, 9, 1, 7])
    next_idx = np.full((6, 2), -1)
    next_idx[0] = [5, -1]  # 5 follows 0 (user 0's latest)
    next_idx[3] = [5, 4]   # ... and 3 (third latest); 4 follows 3
    next_idx[1] = [2, 4]   # 1 is recent but rated below the user's mean: it explains nothing
    next_idx[2] = [4, -1]  # 2 is user 0's fourth latest: not recent with recent_n=3
    recent, ratings = recent_reasons(np.array([0, 0, 0, 1]), np.array([5, 4, 2, 5]), data.histories, next_idx, 3)
    assert recent.tolist() == [0, 3, -1, -1]  # the latest liked one wins; user 1 rated no source
    assert ratings.tolist() == [5.0, 4.0, 0.0, 0.0]


def test_with_recent_puts_it_first_once_and_keeps_n():
    reasons = Reasons(np.array([[7, 8, 9], [7, -1, -1], [1, 2, -1]]), np.array([[4, 3, 2], [4, 0, 0], [5, 4, 0]],
                                                                                 np.float32))
    merged = with_recent(reasons, np.array([8, 6, -1]), np.array([3.0, 5.0, 0.0], np.float32))
    assert merged.items.tolist() == [[8, 7, 9], [6, 7, -1], [1, 2, -1]]
    assert merged.ratings.tolist() == [[3, 4, 2], [5, 4, 0], [5, 4, 0]]
    assert merged.recent is not None and merged.recent.tolist() == [[True, False, False], [True, False, False],
                                                                    [False, False, False]]
    column = because_column(merged, Vocabulary(np.arange(10) + 10))
    assert [[(b["movie_id"], b["kind"]) for b in row] for row in column.to_list()] == [
        [(18, "recent"), (17, "similar"), (19, "similar")], [(16, "recent"), (17, "similar")],
        [(11, "similar"), (12, "similar")]]


def test_next_movies_table_drops_padding_self_and_non_positive_scores():
    vocab = Vocabulary(np.arange(4) + 10)
    idx = np.array([[2, 0, 1], [-1, -1, -1], [3, 1, -1], [0, 2, 1]])
    scores = np.array([[0.9, 0.8, 0.0], [0, 0, 0], [0.5, np.nan, 0], [0.3, 0.2, 0.1]], np.float32)
    frame = next_movies(vocab, idx, scores)
    assert frame.columns == ["movie_id", "rank", "next_movie_id", "score"]
    assert [tuple(r) for r in frame.select("movie_id", "rank", "next_movie_id").rows()] == [
        (10, 1, 12), (12, 1, 13), (13, 1, 10), (13, 2, 12), (13, 3, 11)]
