"""Content and hybrid models: contract, features by hand, weight selection, cold start."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from latentlens.build.data.tables import (
    GENOME_SCORES_SCHEMA,
    LINKS_SCHEMA,
    MOVIES_SCHEMA,
    RATINGS_SCHEMA,
    TAGS_SCHEMA,
    MovieLensData,
)
from latentlens.build.interactions import Vocabulary
from latentlens.build.models.content import ContentConfig, ContentKNN, item_features, liked_matrix
from latentlens.build.models.ease import EASE, EASEConfig
from latentlens.build.models.fit_cache import FitCache
from latentlens.build.models.hybrid import Hybrid, HybridConfig, minmax_rows, zscore_rows
from tests.models.contract import RecommenderContract, checkerboard, fit_context
from tests.models.test_ranking_models import interactions

QUICK_CONTENT = ContentConfig(k=10)
QUICK_HYBRID = HybridConfig(cf=EASEConfig(l2=30.0), content=QUICK_CONTENT, min_ratings=0,
                            weights={"cf": 1.0, "content": 0.1, "popularity": 0.01})


class TestContent(RecommenderContract):
    supports_similar_items = True

    def make_model(self):
        return ContentKNN(QUICK_CONTENT, checkerboard().features)


class TestHybrid(RecommenderContract):
    def make_model(self):
        return Hybrid(QUICK_HYBRID, checkerboard().features)


class TestHybridAuto(RecommenderContract):
    def make_model(self):
        return Hybrid(QUICK_HYBRID.model_copy(update={"weights": "auto"}), checkerboard().features)


def tiny_release(genome: bool = True) -> MovieLensData:
    movies = pl.DataFrame({
        "movie_id": [10, 20, 30, 40], "title": ["a", "b", "c", "d"], "display_title": ["a", "b", "c", "d"],
        "year": [1990, 1991, 2010, None],
        "genres": [["Drama"], ["Drama", "Comedy"], ["Comedy"], ["(no genres listed)"]],
    }, schema=MOVIES_SCHEMA)
    tags = pl.DataFrame({"user_id": [1, 2, 1, 1], "movie_id": [10, 20, 20, 30],
                         "tag": ["Heist", "heist ", "funny", "one-off"], "timestamp": [0, 0, 0, 0]},
                        schema=TAGS_SCHEMA)
    scores = pl.DataFrame({"movie_id": [10, 10, 20, 20], "tag_id": [1, 2, 1, 2],
                           "relevance": [0.9, 0.1, 0.1, 0.9]}, schema=GENOME_SCORES_SCHEMA)
    return MovieLensData("tiny", "csv", Path("."), pl.DataFrame(schema=RATINGS_SCHEMA), movies, tags,
                         pl.DataFrame(schema=LINKS_SCHEMA), (0.5, 5.0), "0", scores if genome else None)


def test_item_features_blocks_by_hand() -> None:
    items = Vocabulary(np.array([10, 20, 30, 40, 50]))  # 50: in the catalogue, unknown to movies.csv
    only_genres = ContentConfig(tag_weight=0.0, year_weight=0.0, genome_weight=0.0)
    f = item_features(tiny_release(), items, only_genres).toarray()
    # genres: 10 Drama, 20 Drama+Comedy, 30 Comedy; "(no genres listed)" is no genre
    assert f @ f.T == pytest.approx(np.array([
        [1, 1 / np.sqrt(2), 0, 0, 0], [1 / np.sqrt(2), 1, 1 / np.sqrt(2), 0, 0],
        [0, 1 / np.sqrt(2), 1, 0, 0], [0] * 5, [0] * 5]), abs=1e-6)
    # tags: "heist" (case and spaces folded) on 10 and 20 survives min_df=2, "funny" and "one-off" don't
    only_tags = ContentConfig(genre_weight=0.0, year_weight=0.0, genome_weight=0.0)
    t = item_features(tiny_release(), items, only_tags).toarray()
    assert t.shape[1] == 1 and t[:, 0] == pytest.approx([1, 1, 0, 0, 0])
    # year buckets of 5: 1990 and 1991 share one, 2010 is alone, 40 has no year
    only_years = ContentConfig(genre_weight=0.0, tag_weight=0.0, genome_weight=0.0)
    y = item_features(tiny_release(), items, only_years).toarray()
    assert (y @ y.T)[0, 1] == pytest.approx(1.0) and (y @ y.T)[0, 2] == 0 and not y[3].any()
    # genome: relevance above the tag's mean (0.5): 10 -> tag 1, 20 -> tag 2, so orthogonal
    only_genome = ContentConfig(genre_weight=0.0, tag_weight=0.0, year_weight=0.0)
    g = item_features(tiny_release(), items, only_genome).toarray()
    assert (g @ g.T)[0, 0] == pytest.approx(1.0) and (g @ g.T)[0, 1] == 0


def test_item_features_rows_are_unit_length_and_blocks_weighted() -> None:
    items = Vocabulary(np.array([10, 20, 30, 40]))
    f = item_features(tiny_release(genome=False), items, ContentConfig(year_weight=0.5))
    norms = np.sqrt(np.asarray(f.multiply(f).sum(axis=1)).ravel())
    assert norms[:3] == pytest.approx(1.0)
    # 10 vs 20: genres cosine 1/sqrt(2) (weight 1), tag cosine 1 (weight 1), same year bucket (0.5)
    # each row's squared norm before the final normalisation: 1 + 1 + 0.25
    expected = (1 / np.sqrt(2) + 1 + 0.25) / 2.25
    assert (f @ f.T).toarray()[0, 1] == pytest.approx(expected, rel=1e-5)


def test_liked_is_at_or_above_user_mean() -> None:
    data = interactions([0, 0, 0, 1], [0, 1, 2, 0], [2, 3, 4, 5])  # user 0 mean 3
    np.testing.assert_array_equal(liked_matrix(data, None).toarray(), [[0, 1, 1], [1, 0, 0]])
    np.testing.assert_array_equal(liked_matrix(data, 4.0).toarray(), [[0, 0, 1], [1, 0, 0]])


def test_row_normalisers() -> None:
    s = np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]])
    np.testing.assert_allclose(zscore_rows(s), [[-np.sqrt(1.5), 0, np.sqrt(1.5)], [0, 0, 0]])
    np.testing.assert_allclose(minmax_rows(s), [[0, 0.5, 1], [0, 0, 0]])


def test_auto_weights_come_from_the_grid_and_are_recorded() -> None:
    board = checkerboard()
    cfg = QUICK_HYBRID.model_copy(update={"weights": "auto", "content_grid": (0.0, 0.5), "popularity_grid": (0.0, 3.0),
                                          "sequence": None})
    model = Hybrid(cfg, board.features).fit(board.data, fit_context())
    assert set(model.validation_) == {"c0.0_p0.0", "c0.0_p3.0", "c0.5_p0.0", "c0.5_p3.0"}
    assert model.weights_["content"] in (0.0, 0.5)
    # a popularity weight that swamps the personal signal cannot be the best on the checkerboard
    assert model.validation_["c0.0_p3.0"] < model.validation_["c0.0_p0.0"]
    assert model.weights_["popularity"] == 0.0


def test_with_a_sequence_part_the_weights_come_from_coordinate_ascent() -> None:
    """The sequence weight alone, then (content, popularity) at it, then the sequence weight again: fewer
    weightings than the product of the grids, and the chosen one the best of those tried."""
    board = checkerboard()
    grids = {"content_grid": (0.0, 0.5), "popularity_grid": (0.0, 3.0), "sequence_grid": (0.0, 0.3, 1.0)}
    model = Hybrid(QUICK_HYBRID.model_copy(update={"weights": "auto", **grids}), board.features).fit(
        board.data, fit_context())
    product = {f"c{c}_p{p}_s{s}" for c in grids["content_grid"] for p in grids["popularity_grid"]
               for s in grids["sequence_grid"]}
    assert set(model.validation_) <= product and len(model.validation_) < len(product)
    assert {f"c0.0_p0.0_s{s}" for s in grids["sequence_grid"]} <= set(model.validation_)  # the first sweep
    w = model.weights_
    assert model.validation_[f"c{w['content']}_p{w['popularity']}_s{w['sequence']}"] == max(model.validation_.values())
    assert w["popularity"] == 0.0  # as without the sequence part: popularity swamps the checkerboard's signal


def test_tuned_config_fixes_the_chosen_weights_so_a_refit_does_not_search() -> None:
    board = checkerboard()
    cfg = QUICK_HYBRID.model_copy(update={"weights": "auto", "content_grid": (0.0, 0.5), "popularity_grid": (0.0,)})
    searched = Hybrid(cfg, board.features).fit(board.data, fit_context())
    tuned = searched.tuned_config()
    assert tuned.weights == searched.weights_ and cfg.weights == "auto"
    refit = Hybrid(tuned, board.features).fit(board.data, fit_context())
    assert refit.validation_ == {}  # no grid search the second time
    users = np.arange(board.data.n_users)
    given = board.data.histories
    np.testing.assert_allclose(refit.score_users(users, given), searched.score_users(users, given),
                               rtol=1e-5, atol=1e-6)


def test_validation_fit_on_a_user_sample() -> None:
    board = checkerboard()
    cfg = QUICK_HYBRID.model_copy(update={"weights": "auto", "content_grid": (0.0, 0.5), "popularity_grid": (0.0,),
                                          "validation_fit_users": 30, "sequence": None})
    model = Hybrid(cfg, board.features).fit(board.data, fit_context())
    assert board.data.n_users > 30 and set(model.validation_) == {"c0.0_p0.0", "c0.5_p0.0"}
    assert model.weights_["content"] in (0.0, 0.5)


def test_the_build_shares_deterministic_fits_between_the_hybrid_and_its_parts() -> None:
    """One FitCache per build: the hybrid's EASE and content are the fits evaluated on their own."""
    board = checkerboard()
    fits = FitCache()
    ease = fits.fit(EASE(QUICK_HYBRID.cf), board.data, fit_context())
    content = fits.fit(ContentKNN(QUICK_CONTENT, board.features), board.data, fit_context())
    hybrid = Hybrid(QUICK_HYBRID, board.features, fits=fits).fit(board.data, fit_context())
    assert hybrid.components_["cf"] is ease and hybrid.components_["content"] is content
    # keyed by config and the data's content, not the objects: equal data or features share the fit
    equal_data = board.data.subset(np.ones(board.data.n_ratings, dtype=bool))
    assert fits.fit(EASE(QUICK_HYBRID.cf), equal_data, fit_context()) is ease
    assert fits.fit(ContentKNN(QUICK_CONTENT, board.features.copy()), board.data, fit_context()) is content
    other_data = board.data.subset(np.arange(board.data.n_ratings) % 9 != 0)
    assert fits.fit(EASE(QUICK_HYBRID.cf), other_data, fit_context()) is not ease
    assert fits.fit(EASE(QUICK_HYBRID.cf.model_copy(update={"l2": 31.0})), board.data, fit_context()) is not ease
    other_features = board.features * 2.0
    assert fits.fit(ContentKNN(QUICK_CONTENT, other_features), board.data, fit_context()) is not content
    fits.forget(board.data)
    assert fits.fit(EASE(QUICK_HYBRID.cf), board.data, fit_context()) is not ease
    # content similarities depend on the features only: computed once, whatever the ratings
    half = board.data.subset(np.arange(board.data.n_ratings) % 2 == 0)
    on_half = ContentKNN(QUICK_CONTENT, board.features, fits).fit(half, fit_context())
    on_full = ContentKNN(QUICK_CONTENT, board.features, fits).fit(board.data, fit_context())
    assert on_half.neighbours_ is on_full.neighbours_
    assert (on_half.cold_scores() < on_full.cold_scores()).any()  # what they learned of the ratings differs
    users = np.arange(board.data.n_users)  # and both score the histories they are given
    np.testing.assert_array_equal(on_half.score_users(users, board.data.histories),
                                  on_full.score_users(users, board.data.histories))


def test_users_with_few_ratings_get_popularity() -> None:
    board = checkerboard()
    cfg = QUICK_HYBRID.model_copy(update={"min_ratings": 100})  # every user is "new"
    model = Hybrid(cfg, board.features).fit(board.data, fit_context())
    popularity = np.bincount(board.data.item_idx, minlength=board.data.n_items)
    scores = model.score_users(np.array([0, 45, -1]), board.data.histories.rows(np.array([0, 45, -1])))
    rated = popularity > 0  # the hybrid ranks the items EASE knows: every rated one here
    np.testing.assert_array_equal(model.candidates(), np.flatnonzero(rated))
    np.testing.assert_allclose(scores[:, rated], np.tile(popularity[rated], (3, 1)))
    assert (scores[:, ~rated] < scores[:, rated].min(axis=1, keepdims=True)).all()


def test_content_requires_features() -> None:
    with pytest.raises(ValueError):
        ContentKNN(QUICK_CONTENT)

