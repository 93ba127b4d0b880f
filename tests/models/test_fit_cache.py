"""FitCache's stand-in: the large plan's retrain keeps EASE's and item-kNN's evaluation fits (every
rating but the evaluated users' latest), which then score every user's full history."""

from __future__ import annotations

import numpy as np
import pytest

from latentlens.build.evaluate.splits import temporal_holdout
from latentlens.build.models.ease import EASE, EASEConfig
from latentlens.build.models.fit_cache import FitCache
from latentlens.build.models.itemknn import ItemKNN, ItemKNNConfig, history_rows
from latentlens.build.models.popularity import Popularity, PopularityConfig
from tests.models.contract import checkerboard, fit_context

QUICK_EASE = EASEConfig(l2=30.0)


@pytest.mark.parametrize("make", [lambda: EASE(QUICK_EASE), lambda: ItemKNN(ItemKNNConfig(k=10))],
                         ids=["ease", "itemknn"])
def test_a_stand_in_fit_keeps_its_item_weights_and_scores_the_full_histories(make) -> None:
    """The large plan's retrain: the evaluation's fit (all ratings but the evaluated users' latest)
    serves for all ratings; scored with the full data's histories, the held-out ratings are back."""
    board = checkerboard()
    full = board.data
    evaluated = np.zeros(full.n_users, dtype=bool)
    evaluated[::10] = True
    train, _ = temporal_holdout(full, 0.3, users=evaluated)
    fits = FitCache()
    on_train = fits.fit(make(), train, fit_context())
    fits.allow_stand_in(full, train)
    final = fits.fit(make(), full, fit_context())
    assert final is on_train and fits.fit(make(), full, fit_context()) is final  # learned once, on train
    users = np.flatnonzero(evaluated)
    given = full.histories.rows(users)
    if isinstance(final, EASE):
        expected = final.profiles(given) @ final.weights()
        got = final.score_candidates(users, given)
    else:
        expected = (history_rows(given, final.config.weighting) @ final.scorer_).toarray()
        got = final.score_users(users, given)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    on_train_histories = final.score_users(users, train.histories.rows(users))
    assert not np.allclose(final.score_users(users, given), on_train_histories)  # the held-out ratings count
    fits.forget(train)  # the evaluation's fits go, the final ones stay
    assert fits.fit(make(), full, fit_context()) is final


def test_a_model_without_an_item_side_is_refit_on_the_full_data() -> None:
    board = checkerboard()
    train = board.data.subset(np.arange(board.data.n_ratings) % 7 != 0)
    fits = FitCache()
    on_train = fits.fit(Popularity(PopularityConfig()), train, fit_context())
    fits.allow_stand_in(board.data, train)
    final = fits.fit(Popularity(PopularityConfig()), board.data, fit_context())
    assert final is not on_train
    np.testing.assert_array_equal(final.scores_, Popularity(PopularityConfig()).fit(board.data, fit_context()).scores_)


def test_fits_are_keyed_by_config_and_data_content_not_object_identity() -> None:
    """Equal data in another object shares the fit; other data or another config does not; `forget` drops
    the fits on data equal to what it is given."""
    board = checkerboard()
    twin = board.data.subset(np.ones(board.data.n_ratings, dtype=bool))  # a new object, the same ratings
    assert twin is not board.data and twin.fingerprint == board.data.fingerprint
    fits = FitCache()
    first = fits.fit(EASE(QUICK_EASE), board.data, fit_context())
    assert fits.fit(EASE(QUICK_EASE), twin, fit_context()) is first
    assert fits.fit(EASE(EASEConfig(l2=31.0)), board.data, fit_context()) is not first
    other = board.data.subset(np.arange(board.data.n_ratings) % 5 != 0)
    assert other.fingerprint != board.data.fingerprint
    assert fits.fit(EASE(QUICK_EASE), other, fit_context()) is not first
    fits.forget(twin)
    assert fits.fit(EASE(QUICK_EASE), board.data, fit_context()) is not first
