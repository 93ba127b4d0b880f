"""The contract every Recommender honours, run against a synthetic fixture with a known answer.

The fixture is a "checkerboard": users of group g rate the items of group g high and one
item of another group low. A personalised model must therefore recommend a user's unseen
items of their own group first, and an item's nearest neighbours are items of its group.

Subclass `RecommenderContract` in a `Test...` class and provide `make_model(self)` (or a
`model_factory` attribute, a zero-argument callable). Flags describe what the model offers
(capabilities.py: `supports_similar_items`, `predicts_ratings`):

    class TestEASE(RecommenderContract):
        supports_similar_items = True
        def make_model(self):
            return EASE(EASEConfig(l2=10.0))

Models that need side data (item features) read it from `checkerboard()`, which is
deterministic and cached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np
import pytest
import scipy.sparse as sp

from latentlens.build.interactions import Histories, Interactions, Vocabulary
from latentlens.build.models.base import FitContext, ModelConfig, Recommender
from latentlens.build.models.capabilities import ItemSimilarity, RatingPredictor, TopNScorer
from latentlens.build.models.ranking import top_n


@dataclass(frozen=True)
class Checkerboard:
    """The fixture: interactions plus the hidden group of every user and item."""

    data: Interactions
    user_group: np.ndarray   # group of each user index
    item_group: np.ndarray   # group of each item index; -1 for the never-rated item
    features: sp.csr_matrix  # items x groups one-hot ("genres"), aligned to data.items
    n_groups: int


@lru_cache(maxsize=1)
def checkerboard(
    n_groups: int = 2, users_per_group: int = 30, items_per_group: int = 12,
    liked_per_user: int = 7, seed: int = 7,
) -> Checkerboard:
    """Build the checkerboard fixture (cached: every test sees the same arrays).

    Each user rates `liked_per_user` random items of their own group 4.5 or 5.0 and one
    random item of the next group 0.5-1.5, so own-group ratings sit above every user's mean
    (mean-centred models see the same groups as binary ones). Beware: with a fixed count,
    "has item a" predicts "lacks item b" within a group, and regression models (EASE) learn
    that artefact unless regularised (λ >= 30 here). The last item of the catalogue is never rated, like a
    movie nobody has rated yet; ids are sparse (x10) so id/index mix-ups show.
    """
    rng = np.random.default_rng(seed)
    n_users = n_groups * users_per_group
    n_rated_items = n_groups * items_per_group
    user_group = np.repeat(np.arange(n_groups), users_per_group)
    item_group = np.append(np.repeat(np.arange(n_groups), items_per_group), -1)

    u_list, i_list, r_list = [], [], []
    for u in range(n_users):  # fixture size is tiny; clarity beats vectorisation here
        g = user_group[u]
        own = g * items_per_group + rng.choice(items_per_group, liked_per_user, replace=False)
        other = ((g + 1) % n_groups) * items_per_group + rng.integers(items_per_group)
        u_list += [u] * (liked_per_user + 1)
        i_list += [*own, other]
        r_list += [*rng.choice([4.5, 5.0], liked_per_user), rng.choice([0.5, 1.0, 1.5])]

    n = len(u_list)
    users = Vocabulary(np.arange(n_users, dtype=np.int64) * 10 + 1)
    items = Vocabulary(np.arange(n_rated_items + 1, dtype=np.int64) * 10 + 3)
    data = Interactions(
        users, items,
        np.asarray(u_list, np.int32), np.asarray(i_list, np.int32),
        np.asarray(r_list, np.float32), 1_000_000 + rng.permutation(n).astype(np.int64) * 60,
    )
    rows = np.flatnonzero(item_group >= 0)
    features = sp.csr_matrix(
        (np.ones(rows.shape[0], np.float32), (rows, item_group[rows])),
        shape=(n_rated_items + 1, n_groups),
    )
    return Checkerboard(data, user_group, item_group, features, n_groups)


def histories(board: Checkerboard, users: np.ndarray) -> Histories:
    """The checkerboard users' histories, aligned with `users` (-1: an empty one)."""
    return board.data.histories.rows(np.asarray(users))


def fit_context(seed: int = 0) -> FitContext:
    return FitContext(rng=np.random.default_rng(seed), show_progress=False)


class RecommenderContract:
    """Shared tests; not collected itself (no `Test` prefix), only through subclasses."""

    model_factory: ClassVar[Callable[[], Recommender] | None] = None
    supports_similar_items: ClassVar[bool] = False  # capabilities.ItemSimilarity
    predicts_ratings: ClassVar[bool] = False        # capabilities.RatingPredictor
    personalised: ClassVar[bool] = True   # False: same scores for everyone instead of own-group (popularity)
    n_top: ClassVar[int] = 3              # how many top recommendations must be own-group

    def make_model(self) -> Recommender:
        if self.model_factory is None:
            raise NotImplementedError("set model_factory or override make_model")
        return type(self).model_factory()

    # -- fixtures ---------------------------------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def board(cls) -> Checkerboard:
        return checkerboard()

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, board: Checkerboard) -> Recommender:
        """One fit per test class, shared by the read-only tests."""
        return cls().make_model().fit(board.data, fit_context(0))

    # -- the contract -----------------------------------------------------------------
    def test_fit_returns_self(self, board: Checkerboard) -> None:
        model = self.make_model()
        assert model.fit(board.data, fit_context(0)) is model

    def test_declares_name_and_typed_config(self, fitted: Recommender) -> None:
        assert isinstance(type(fitted).name, str) and type(fitted).name
        assert isinstance(fitted.config, ModelConfig)
        assert isinstance(fitted.config.model_dump(), dict)
        assert isinstance(fitted, TopNScorer)
        assert isinstance(fitted, ItemSimilarity) == self.supports_similar_items
        assert isinstance(fitted, RatingPredictor) == self.predicts_ratings

    def test_score_users_shape_and_finite(self, fitted: Recommender, board: Checkerboard) -> None:
        users = np.array([0, 5, board.data.n_users - 1])
        scores = fitted.score_users(users, histories(board, users))
        assert scores.shape == (3, board.data.n_items)
        assert np.isfinite(scores).all()

    def test_batch_scoring_matches_single_user_scoring(self, fitted: Recommender, board: Checkerboard) -> None:
        users = np.array([3, 40, 17])
        batch = fitted.score_users(users, histories(board, users))
        for row, u in enumerate(users):
            single = fitted.score_users(np.array([u]), histories(board, [u]))[0]
            np.testing.assert_allclose(batch[row], single, rtol=1e-5, atol=1e-6)

    def test_item_side_models_score_the_histories_they_are_given(self, fitted: Recommender,
                                                                 board: Checkerboard) -> None:
        """An item-side model (Recommender.item_side) scores the history passed at call time, not one it
        kept: user 0 scored with user 40's history (another group) gets user 40's scores."""
        if not type(fitted).item_side:
            return
        swapped = fitted.score_users(np.array([0, 40]), histories(board, [40, 0]))
        own = fitted.score_users(np.array([40, 0]), histories(board, [40, 0]))
        np.testing.assert_allclose(swapped, own, rtol=1e-5, atol=1e-6)
        assert not np.allclose(own[0], own[1])

    def test_recommend_excludes_seen_and_sorts(self, fitted: Recommender, board: Checkerboard) -> None:
        users = np.arange(board.data.n_users)
        seen = board.data.matrix
        items, scores = fitted.recommend(users, histories(board, users), 5, batch_size=16)
        assert items.shape == scores.shape == (users.shape[0], 5)
        assert (items >= 0).all()  # every user has more than 5 unseen items
        assert not np.asarray(seen[users[:, None], items].todense()).any()
        assert (np.diff(scores, axis=1) <= 1e-6).all()
        assert (items[:, :, None] != items[:, None, :]).sum() == users.shape[0] * 5 * 4  # no repeats

    def test_recommend_ranks_the_candidate_columns_of_score_users(self, fitted: Recommender,
                                                                  board: Checkerboard) -> None:
        """score_candidates is score_users restricted to candidates(), and recommend ranks
        exactly those columns (the fast path must not change what is recommended)."""
        users = np.array([0, 7, -1, board.data.n_users - 1])
        cand = fitted.candidates()
        given = histories(board, users)
        full = fitted.score_users(users, given)
        cols = np.arange(board.data.n_items) if cand is None else cand
        assert cand is None or (np.diff(cand) > 0).all()
        np.testing.assert_allclose(fitted.score_candidates(users, given), full[:, cols], rtol=1e-5, atol=1e-6)
        some = np.arange(0, board.data.n_items, 3)
        np.testing.assert_allclose(fitted.score_items(users, given, some), full[:, some], rtol=1e-5, atol=1e-6)
        items, scores = fitted.recommend(users, given, 4)
        seen = given.ratings[:, cols]
        want_pos, want_scores = top_n(full[:, cols], 4, seen)
        np.testing.assert_array_equal(items, np.where(want_pos >= 0, cols[np.maximum(want_pos, 0)], -1))
        np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-6)

    def test_threaded_batches_give_the_same_lists(self, fitted: Recommender, board: Checkerboard) -> None:
        users = np.arange(board.data.n_users)
        one = fitted.recommend(users, histories(board, users), 5, batch_size=7)
        two = fitted.recommend(users, histories(board, users), 5, batch_size=7, n_threads=2)
        np.testing.assert_array_equal(one[0], two[0])
        np.testing.assert_array_equal(one[1], two[1])

    def test_top_recommendations_are_own_group(self, fitted: Recommender, board: Checkerboard) -> None:
        users = np.arange(board.data.n_users)
        if not self.personalised:  # then every user must get the same scores instead
            scores = fitted.score_users(users, histories(board, users))
            np.testing.assert_allclose(scores, np.broadcast_to(scores[0], scores.shape))
            return
        items, _ = fitted.recommend(users, histories(board, users), self.n_top)
        groups = board.item_group[items]
        assert (groups == board.user_group[:, None]).all(), (
            f"{(groups != board.user_group[:, None]).any(axis=1).sum()} users got other-group items"
        )

    def test_unknown_users_get_cold_start_scores(self, fitted: Recommender, board: Checkerboard) -> None:
        scores = fitted.score_users(np.array([-1, 0, -1]), histories(board, [-1, 0, -1]))
        assert scores.shape == (3, board.data.n_items)
        assert np.isfinite(scores).all()
        np.testing.assert_allclose(scores[0], scores[2])
        items, top = fitted.recommend(np.array([-1]), histories(board, [-1]), 5)
        assert (items >= 0).all() and np.isfinite(top).all()

    def test_same_seed_same_recommendations(self, board: Checkerboard) -> None:
        users = np.arange(board.data.n_users)
        a = self.make_model().fit(board.data, fit_context(11)).recommend(users, histories(board, users), 5)
        b = self.make_model().fit(board.data, fit_context(11)).recommend(users, histories(board, users), 5)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_allclose(a[1], b[1], rtol=1e-5)

    def test_similar_items(self, fitted: Recommender, board: Checkerboard) -> None:
        if not self.supports_similar_items:
            assert not isinstance(fitted, ItemSimilarity) and not hasattr(fitted, "similar_items")
            return
        items = np.flatnonzero(board.item_group >= 0)
        neighbours, scores = fitted.similar_items(items, 3)
        assert neighbours.shape == scores.shape == (items.shape[0], 3)
        assert (neighbours != items[:, None]).all()
        assert (neighbours >= 0).all()
        assert (np.diff(scores, axis=1) <= 1e-6).all()
        assert (board.item_group[neighbours] == board.item_group[items][:, None]).all()

    def test_predict_within_rating_scale(self, fitted: Recommender, board: Checkerboard) -> None:
        if not isinstance(fitted, RatingPredictor):
            assert not hasattr(fitted, "predict")
            return
        lo, hi = board.data.rating_scale
        users = np.array([0, 1, -1, board.data.n_users - 1])
        items = np.array([0, board.data.n_items - 1, 2, 3])
        pred = fitted.predict(users, items)
        assert pred.shape == (4,)
        assert np.isfinite(pred).all() and (pred >= lo).all() and (pred <= hi).all()
        if self.personalised:
            # unseen own-group items are predicted above unseen other-group items, on average
            seen = board.data.matrix.toarray() != 0
            uu, ii = np.nonzero(~seen[:, :-1])
            p = fitted.predict(uu, ii)
            own = board.item_group[ii] == board.user_group[uu]
            assert p[own].mean() > p[~own].mean() + 0.5
