"""Rating predictors: the shared contract, plus answers known by hand or by Surprise itself."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse as sp

from latentlens.build.interactions import Interactions, Vocabulary
from latentlens.build.models.base import FitContext
from latentlens.build.models.baseline import Baseline, BaselineConfig, fit_biases
from latentlens.build.models.biased_mf import BiasedMF, BiasedMFConfig, ridge_rows, ridge_rows_cg
from latentlens.build.models.knn_baseline import KNNBaseline, KNNBaselineConfig
from latentlens.build.models.rating_blend import RatingBlend, RatingBlendConfig
from latentlens.build.models.surprise_svd import SurpriseSVD, SurpriseSVDConfig
from tests.models.contract import Checkerboard, RecommenderContract

# quick configurations, also the ones to use anywhere a test needs a fast rating model
QUICK_SVD = SurpriseSVDConfig(n_factors=8, n_epochs=100, lr_all=0.02)
QUICK_MF = BiasedMFConfig(factors=4, iterations=10, reg=0.05, reg_grid=None, cg_steps=4)
QUICK_KNN = KNNBaselineConfig(k=10, max_neighbors=20, shrinkage=10.0)
QUICK_BLEND = RatingBlendConfig(mf=QUICK_MF, item_knn=QUICK_KNN, user_knn=QUICK_KNN, blender="ridge",
                                holdout_fraction=0.2)
# k >= max_neighbors: "the k most similar rated" is "every rated neighbour kept", so the sparse
# products of score_users are exactly predict's rule
EXACT_KNN = KNNBaselineConfig(k=20, max_neighbors=20, shrinkage=10.0)
EXACT_BLEND = QUICK_BLEND.model_copy(update={"item_knn": EXACT_KNN, "user_knn": EXACT_KNN})


def ctx(seed: int = 0) -> FitContext:
    return FitContext(rng=np.random.default_rng(seed), show_progress=False)


def interactions(u, i, r, n_users=None, n_items=None, scale=(0.5, 5.0)) -> Interactions:
    u, i = np.asarray(u, np.int32), np.asarray(i, np.int32)
    n_users = n_users or int(u.max()) + 1
    n_items = n_items or int(i.max()) + 1
    return Interactions(Vocabulary(np.arange(n_users, dtype=np.int64)), Vocabulary(np.arange(n_items, dtype=np.int64)),
                        u, i, np.asarray(r, np.float32), np.zeros(u.shape[0], np.int64), scale)


def random_ratings(n_users=40, n_items=30, n=500, seed=3, spare_items=1) -> Interactions:
    """Random half-star ratings with user and item effects; the last item is never rated."""
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n_users * (n_items - spare_items), n, replace=False)
    u, i = pairs // (n_items - spare_items), pairs % (n_items - spare_items)
    raw = 3 + rng.normal(0, 0.6, n_users)[u] + rng.normal(0, 0.6, n_items)[i] + rng.normal(0, 0.7, n)
    return interactions(u, i, np.clip(np.round(raw * 2) / 2, 0.5, 5.0), n_users, n_items)


# -- the shared contract ----------------------------------------------------------------

class RatingContract(RecommenderContract):
    """The contract, with the own-group test restricted to items that carry evidence.

    A rating predictor learns only from rating values. In the checkerboard a few items are
    rated by their own group alone (no low rating from the other group), so nothing in the
    ratings says the other group dislikes them: predicting them high for everyone is right
    for a rating model, not a bug. Among items rated by both groups, the top must be own-group.
    """

    predicts_ratings = True

    def test_top_recommendations_are_own_group(self, fitted, board: Checkerboard) -> None:
        d = board.data
        per_group = np.zeros((d.n_items, board.n_groups))
        np.add.at(per_group, (d.item_idx, board.user_group[d.user_idx]), 1)
        evidence = (per_group > 0).all(axis=1)
        assert evidence.sum() >= 2 * board.n_groups * self.n_top  # the restriction leaves a real test
        no_evidence = sp.csr_matrix(np.broadcast_to(~evidence, (d.n_users, d.n_items)).astype(np.float32))
        items, _ = fitted.recommend(np.arange(d.n_users), d.histories, self.n_top, exclude=no_evidence)
        assert (board.item_group[items] == board.user_group[:, None]).all()


class TestBaselineContract(RecommenderContract):
    """Not personalised in the checkerboard sense: bu shifts every item of a user equally."""

    model_factory = staticmethod(lambda: Baseline())
    personalised = False
    predicts_ratings = True

    def test_top_recommendations_are_own_group(self, fitted, board: Checkerboard) -> None:
        # same ranking for everyone (scores differ by the user's bias only)
        scores = fitted.score_users(np.arange(board.data.n_users), board.data.histories).astype(np.float64)
        centred = scores - scores.mean(axis=1, keepdims=True)
        np.testing.assert_allclose(centred, np.broadcast_to(centred[0], centred.shape), atol=1e-5)


class TestSurpriseSVDContract(RatingContract):
    model_factory = staticmethod(lambda: SurpriseSVD(QUICK_SVD))


class TestBiasedMFContract(RatingContract):
    model_factory = staticmethod(lambda: BiasedMF(QUICK_MF))


class TestKNNBaselineContract(RatingContract):
    model_factory = staticmethod(lambda: KNNBaseline(QUICK_KNN))


class TestUserKNNBaselineContract(RatingContract):
    model_factory = staticmethod(lambda: KNNBaseline(QUICK_KNN.model_copy(update={"user_based": True})))


class TestRatingBlendContract(RatingContract):
    model_factory = staticmethod(lambda: RatingBlend(QUICK_BLEND))


# -- baseline ---------------------------------------------------------------------------

def test_baseline_biases_equal_hand_computation() -> None:
    # ratings (u, i, r): (0,0,4) (0,1,2) (1,0,5); reg_user 1, reg_item 2, one alternation, items first
    mu = Fraction(11, 3)
    bi0 = ((4 - mu) + (5 - mu)) / (2 + 2)
    bi1 = (2 - mu) / (2 + 1)
    bu0 = ((4 - mu - bi0) + (2 - mu - bi1)) / (1 + 2)
    bu1 = (5 - mu - bi0) / (1 + 1)
    data = interactions([0, 0, 1], [0, 1, 0], [4, 2, 5], n_items=3)
    m, bu, bi = fit_biases(data.user_idx, data.item_idx, data.rating, 2, 3, 1.0, 2.0, 1)
    assert m == pytest.approx(float(mu))
    np.testing.assert_allclose(bu, [float(bu0), float(bu1)], rtol=1e-12)
    np.testing.assert_allclose(bi, [float(bi0), float(bi1), 0.0], rtol=1e-12)
    model = Baseline(BaselineConfig(reg_user=1.0, reg_item=2.0, iterations=1)).fit(data, ctx())
    assert model.predict(np.array([1]), np.array([1]))[0] == pytest.approx(float(mu + bu1 + bi1))
    # item 2 was never rated: mu + bu; unknown user: mu + bi
    assert model.predict(np.array([0]), np.array([2]))[0] == pytest.approx(float(mu + bu0))
    assert model.predict(np.array([-1]), np.array([1]))[0] == pytest.approx(float(mu + bi1))


def test_baseline_equals_surprise_baseline_only() -> None:
    from surprise import BaselineOnly

    from latentlens.build.models.surprise_svd import build_trainset

    data = random_ratings()
    ours = Baseline().fit(data, ctx())
    trainset, _, _ = build_trainset(data.user_idx, data.item_idx, data.rating, data.rating_scale)
    algo = BaselineOnly(bsl_options={"method": "als"}, verbose=False).fit(trainset)
    pairs = [(0, 0), (3, 7), (39, 28), (12, 29)]  # item 29 never rated
    theirs = [algo.predict(u, i).est for u, i in pairs]
    np.testing.assert_allclose(ours.predict(*np.array(pairs).T), theirs, atol=1e-9)


def test_predictions_are_clipped_to_the_scale() -> None:
    # user 0 rates everything 5 and item 0 is rated 5 by everyone: mu + bu + bi exceeds 5
    u = [0, 0, 0, 1, 1, 2, 2]
    i = [0, 1, 2, 0, 1, 0, 2]
    r = [5, 5, 5, 5, 1, 5, 1]
    data = interactions(u, i, r)
    for model in (Baseline(BaselineConfig(reg_user=0, reg_item=0)), BiasedMF(QUICK_MF), KNNBaseline(QUICK_KNN)):
        model.fit(data, ctx())
        raw = model._mu + model._bu[0] + model._bi[0]
        assert raw > 5.0 or type(model) is not Baseline
        p = model.predict(np.array([0, 1, 2, -1]), np.array([0, 1, 2, 0]))
        assert (p <= 5.0).all() and (p >= 0.5).all()
    assert Baseline(BaselineConfig(reg_user=0, reg_item=0)).fit(data, ctx()).predict(
        np.array([0]), np.array([0]))[0] == 5.0


@pytest.mark.parametrize("make", [lambda: Baseline(), lambda: BiasedMF(QUICK_MF), lambda: SurpriseSVD(QUICK_SVD),
                                  lambda: KNNBaseline(QUICK_KNN)])
def test_unknown_user_or_item_gets_the_bias_fallback(make) -> None:
    data = random_ratings()
    model = make().fit(data, ctx())
    items = np.array([0, 5, 29])
    np.testing.assert_allclose(model.predict(np.full(3, -1), items),
                               np.clip(model._mu + model._bi[items], 0.5, 5.0), atol=1e-9)
    np.testing.assert_allclose(model.predict(np.array([4, 4]), np.array([-1, 29])),
                               np.clip(model._mu + model._bu[4], 0.5, 5.0), atol=1e-9)
    np.testing.assert_allclose(model.score_users(np.array([-1]), data.histories.rows(np.array([-1])))[0],
                               model._mu + model._bi, atol=1e-5)


@pytest.mark.parametrize("make", [lambda: Baseline(), lambda: BiasedMF(QUICK_MF), lambda: SurpriseSVD(QUICK_SVD),
                                  lambda: KNNBaseline(EXACT_KNN),
                                  lambda: KNNBaseline(EXACT_KNN.model_copy(update={"user_based": True})),
                                  lambda: KNNBaseline(EXACT_KNN.model_copy(update={"base": "mf", "mf": QUICK_MF})),
                                  lambda: RatingBlend(EXACT_BLEND),
                                  lambda: RatingBlend(EXACT_BLEND.model_copy(update={"blender": "gbdt",
                                                                                     "gbdt_iterations": 5}))])
def test_score_users_agrees_with_predict(make) -> None:
    data = random_ratings()
    model = make().fit(data, ctx())
    users = np.array([0, 7, -1])
    scores = model.score_users(users, data.histories.rows(users))
    uu, ii = np.repeat(users, data.n_items), np.tile(np.arange(data.n_items), 3)
    np.testing.assert_allclose(np.clip(scores.ravel(), 0.5, 5.0), model.predict(uu, ii), atol=1e-5)


# -- biased MF --------------------------------------------------------------------------

def test_ridge_rows_matches_per_row_lstsq() -> None:
    rng = np.random.default_rng(0)
    m = sp.random(30, 20, density=0.3, random_state=1, format="csr")
    feats = rng.normal(size=(20, 4))
    reg = np.array([0.5, 0.5, 0.5, 0.1])
    got = ridge_rows(m.indptr, m.indices, m.data, feats, reg, True, 1_000)
    for r in range(30):
        cols = m.indices[m.indptr[r] : m.indptr[r + 1]]
        x, y = feats[cols], m.data[m.indptr[r] : m.indptr[r + 1]]
        want = np.linalg.solve(x.T @ x + len(cols) * np.diag(reg), x.T @ y) if len(cols) else np.zeros(4)
        np.testing.assert_allclose(got[r], want, rtol=1e-4, atol=1e-5)


def test_ridge_rows_cg_converges_to_the_exact_solution() -> None:
    rng = np.random.default_rng(1)
    m = sp.random(50, 30, density=0.3, random_state=2, format="csr")
    feats = rng.normal(size=(30, 4))
    reg = np.array([0.5, 0.5, 0.5, 0.1])
    exact = ridge_rows(m.indptr, m.indices, m.data, feats, reg, True, 1_000)
    start = np.zeros_like(exact)
    one_step = ridge_rows_cg(m.indptr, m.indices, m.data, feats, reg, True, start, 1, 100)  # small blocks too
    converged = ridge_rows_cg(m.indptr, m.indices, m.data, feats, reg, True, start, 8, 100)
    np.testing.assert_allclose(converged, exact, atol=1e-4)
    assert np.abs(one_step - exact).max() > 1e-3  # one step is not yet there: the test can fail


def test_biased_mf_recovers_planted_low_rank_matrix() -> None:
    rng = np.random.default_rng(5)
    n_users, n_items, rank = 150, 120, 3
    truth = (rng.normal(size=(n_users, rank)) @ rng.normal(size=(rank, n_items))
             + rng.normal(0, 1, n_users)[:, None] + rng.normal(0, 1, n_items)[None, :] + 3.0)
    observed = rng.random((n_users, n_items)) < 0.35
    u, i = np.nonzero(observed)
    data = interactions(u, i, truth[u, i], n_users, n_items, scale=(-100.0, 100.0))
    config = BiasedMFConfig(factors=rank, iterations=25, reg=1e-3, reg_bias=1e-3, reg_grid=None)
    model = BiasedMF(config).fit(data, ctx())
    hu, hi = np.nonzero(~observed)
    held_rmse = np.sqrt(np.mean((model.predict(hu, hi) - truth[hu, hi]) ** 2))
    assert held_rmse < 0.05, held_rmse
    # the baseline alone cannot: the signal is in the factors
    base = Baseline().fit(data, ctx())
    assert np.sqrt(np.mean((base.predict(hu, hi) - truth[hu, hi]) ** 2)) > 1.0


# -- Surprise SVD -----------------------------------------------------------------------

def test_surprise_svd_numpy_prediction_equals_surprise_predict() -> None:
    data = random_ratings()
    model = SurpriseSVD(SurpriseSVDConfig(n_factors=5, n_epochs=5)).fit(data, ctx())
    pairs = np.array([(0, 0), (3, 7), (39, 28), (12, 29), (20, 3)])  # item 29 never rated
    theirs = [model.algo_.predict(int(u), int(i)).est for u, i in pairs]
    np.testing.assert_allclose(model.predict(pairs[:, 0], pairs[:, 1]), theirs, atol=1e-6)
    scores = model.score_users(pairs[:, 0], data.histories.rows(pairs[:, 0]))[np.arange(5), pairs[:, 1]]
    np.testing.assert_allclose(np.clip(scores, 0.5, 5.0), theirs, atol=1e-5)


def test_surprise_svd_max_ratings_subsamples() -> None:
    data = random_ratings()
    model = SurpriseSVD(SurpriseSVDConfig(n_factors=2, n_epochs=1, max_ratings=100)).fit(data, ctx())
    assert model.algo_.trainset.n_ratings == 100


# -- kNN --------------------------------------------------------------------------------

@pytest.mark.parametrize("user_based", [False, True])
def test_knn_baseline_equals_surprise_knn_baseline(user_based: bool) -> None:
    from surprise import KNNBaseline as SurpriseKNN

    from latentlens.build.models.surprise_svd import build_trainset

    data = random_ratings(n=600)
    cfg = KNNBaselineConfig(user_based=user_based, k=5, max_neighbors=100, shrinkage=20.0)
    ours = KNNBaseline(cfg).fit(data, ctx())
    trainset, _, _ = build_trainset(data.user_idx, data.item_idx, data.rating, data.rating_scale)
    algo = SurpriseKNN(k=5, sim_options={"name": "pearson_baseline", "user_based": user_based, "shrinkage": 20.0},
                       bsl_options={"method": "als"}, verbose=False).fit(trainset)
    seen = set(zip(data.user_idx.tolist(), data.item_idx.tolist(), strict=True))
    pairs = np.array([(u, i) for u in range(0, 40, 3) for i in range(29) if (u, i) not in seen])
    theirs = [algo.predict(int(u), int(i)).est for u, i in pairs]
    np.testing.assert_allclose(ours.predict(pairs[:, 0], pairs[:, 1]), theirs, atol=1e-6)
    assert np.std(np.asarray(theirs) - Baseline().fit(data, ctx()).predict(pairs[:, 0], pairs[:, 1])) > 0.05


def dense_shrunk_pearson(resid: sp.csr_matrix, shrinkage: float, max_neighbors: int, min_raters: int):
    """The definition, on dense arrays: every pair's similarity, then each column's best neighbours."""
    rated = resid.copy()
    rated.data[:] = 1.0
    e, b = resid.toarray(), rated.toarray()  # explicit zeros in resid are rated
    num, common = e.T @ e, b.T @ b
    s_i, s_j = (e * e).T @ b, b.T @ (e * e)
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = num / np.sqrt(s_i * s_j) * (common - 1) / (common - 1 + shrinkage)
    usable = b.sum(axis=0) >= max(2, min_raters)
    sim[~np.isfinite(sim) | (common < 2) | (sim <= 0) | ~usable[:, None] | ~usable[None, :]] = 0.0
    np.fill_diagonal(sim, 0.0)
    n = sim.shape[0]
    m = min(max_neighbors, max(n - 1, 1))
    idx, sims = np.full((n, m), -1), np.zeros((n, m), np.float32)
    for c in range(n):
        best = [a for a in sorted(range(n), key=lambda a: (-sim[a, c], a)) if sim[a, c] > 0][:m]
        idx[c, :len(best)], sims[c, :len(best)] = best, sim[best, c]
    return idx, sims


@pytest.mark.parametrize(("block_columns", "max_neighbors", "min_raters", "n_threads"),
                         [(1, 5, 2, 1), (7, 100, 2, 2), (1000, 1, 2, 1), (16, 8, 6, 2), (3, 8, 2, 3)])
def test_knn_neighbours_equal_the_dense_definition(block_columns, max_neighbors, min_raters, n_threads) -> None:
    from latentlens.build.models.knn_baseline import shrunk_pearson_neighbors

    rng = np.random.default_rng(block_columns)
    raters, things = 120, 60
    dense = rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0, 1.5], size=(raters, things)) * (rng.random((raters, things)) < 0.25)
    rows, cols = np.nonzero(rng.random((raters, things)) < 0.25)
    # integer-ish residuals make exact-zero sums (dropped by the sparse products) and explicit zeros
    resid = sp.csr_matrix((dense[rows, cols], (rows, cols)), shape=(raters, things))
    assert (resid.data == 0).any()
    idx, sims = shrunk_pearson_neighbors(resid, 5.0, max_neighbors, block_columns, min_raters, n_threads)
    ref_idx, ref_sims = dense_shrunk_pearson(resid, 5.0, max_neighbors, min_raters)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(sims, ref_sims, rtol=1e-6)
    assert (idx[:, 0] >= 0).sum() > things // 2  # most things have a neighbour: not an empty comparison


@pytest.mark.parametrize("user_based", [False, True])
def test_knn_score_users_averages_every_rated_kept_neighbour(user_based: bool) -> None:
    # k < list length: score_users is the documented approximation, checked against a loop
    data = random_ratings(n=600)
    cfg = KNNBaselineConfig(user_based=user_based, k=3, max_neighbors=12, shrinkage=10.0, score_batch=7)
    model = KNNBaseline(cfg).fit(data, ctx())
    resid = {(u, i): r - model._mu - model._bu[u] - model._bi[i]
             for u, i, r in zip(data.user_idx.tolist(), data.item_idx.tolist(), data.rating.tolist(), strict=True)}
    users = np.arange(0, 40, 3)
    scores = model.score_users(users, data.histories.rows(users))
    differs = 0
    for row, u in enumerate(users):
        for i in range(data.n_items):
            nbs = model._nb_idx[u if user_based else i]
            sims = model._nb_sim[u if user_based else i]
            keys = [((v, i) if user_based else (u, v), s) for v, s in zip(nbs, sims, strict=True) if v >= 0]
            rated = [(resid[key], s) for key, s in keys if key in resid]
            want = model._mu + model._bu[u] + model._bi[i]
            if rated:
                want += sum(e * s for e, s in rated) / sum(s for _, s in rated)
            assert scores[row, i] == pytest.approx(want, abs=1e-5)
            differs += len(rated) > cfg.k
    assert differs > 0  # the fixture reaches the case where predict's top-k rule differs
    # and it ranks much as predict's exact rule does (k=3 of 12 is a harsh case; the effect on
    # NDCG@10 at the real settings is measured by bench/bench_topn_scoring.py)
    uu, ii = np.repeat(users, data.n_items), np.tile(np.arange(data.n_items), users.shape[0])
    exact = model.predict(uu, ii)
    assert np.corrcoef(np.clip(scores.ravel(), 0.5, 5.0), exact)[0, 1] > 0.9


# -- blend ------------------------------------------------------------------------------

def test_rating_blend_learns_to_trust_the_component_that_fits() -> None:
    # planted rank-2 structure: MF fits it, the baseline cannot; the blend must follow MF
    rng = np.random.default_rng(9)
    n_users, n_items = 120, 80
    truth = 3.0 + rng.normal(0, 0.8, (n_users, 2)) @ rng.normal(0, 0.8, (2, n_items))
    observed = rng.random((n_users, n_items)) < 0.4
    u, i = np.nonzero(observed)
    data = interactions(u, i, np.clip(truth[u, i] + rng.normal(0, 0.2, u.shape[0]), 0.5, 5.0), n_users, n_items)
    test = rng.random(data.n_ratings) < 0.2
    train, held = data.subset(~test), data.subset(test)
    cfg = QUICK_BLEND.model_copy(
        update={"mf": BiasedMFConfig(factors=2, iterations=10, reg=0.02, reg_grid=None, cg_steps=4)})

    def rmse(m) -> float:
        return float(np.sqrt(np.mean((m.predict(held.user_idx, held.item_idx) - held.rating) ** 2)))

    blend = rmse(RatingBlend(cfg).fit(train, ctx()))
    base = rmse(Baseline().fit(train, ctx()))
    mf = rmse(BiasedMF(cfg.mf).fit(train, ctx()))
    assert mf < base - 0.2  # the fixture separates the components
    assert blend < base - 0.2 and blend < mf + 0.03, (blend, mf, base)


def test_rating_blend_leaves_out_user_knn_above_the_user_cap() -> None:
    data = random_ratings()
    capped = RatingBlend(QUICK_BLEND.model_copy(update={"user_knn_max_users": 10})).fit(data, ctx())
    assert [m.config.user_based for m in capped._models if isinstance(m, KNNBaseline)] == [False]
    full = RatingBlend(QUICK_BLEND).fit(data, ctx())
    assert [m.config.user_based for m in full._models if isinstance(m, KNNBaseline)] == [False, True]


def test_biased_mf_chooses_reg_on_validation_and_fixes_it_for_the_retrain() -> None:
    """A planted rank-3 matrix with no noise: the tiny reg must win, and reg=10 must lose."""
    rng = np.random.default_rng(5)
    n_users, n_items, rank = 150, 120, 3
    truth = rng.normal(size=(n_users, rank)) @ rng.normal(size=(rank, n_items)) + 3.0
    observed = rng.random((n_users, n_items)) < 0.35
    u, i = np.nonzero(observed)
    data = interactions(u, i, truth[u, i], n_users, n_items, scale=(-100.0, 100.0))
    cfg = BiasedMFConfig(factors=rank, iterations=15, reg_grid=(10.0, 1e-3), reg_search_users=100)
    model = BiasedMF(cfg).fit(data, ctx())
    assert set(model.reg_search_) == {10.0, 1e-3}
    assert model.reg_search_[1e-3] < model.reg_search_[10.0]
    assert model.reg_ == 1e-3
    tuned = model.tuned_config()
    assert (tuned.reg, tuned.reg_grid) == (1e-3, None)


def test_biased_mf_logs_the_reg_it_chose_not_the_config_default() -> None:
    """Through the evaluation the build runs: the logged param and evaluation.json's `chosen` name the
    reg every cross-validation fit chose (1e-3 on a noiseless planted matrix), not the config's 0.1."""
    from latentlens.build.models.registry import ModelSpec
    from latentlens.build.settings import EvaluationSettings
    from latentlens.build.stages.evaluate import ModelEvaluation, evaluate_model, record_chosen

    rng = np.random.default_rng(5)
    n_users, n_items, rank = 150, 120, 3
    truth = rng.normal(size=(n_users, rank)) @ rng.normal(size=(rank, n_items)) + 3.0
    u, i = np.nonzero(rng.random((n_users, n_items)) < 0.35)
    data = interactions(u, i, truth[u, i], n_users, n_items, scale=(-100.0, 100.0))
    cfg = BiasedMFConfig(factors=rank, iterations=15, reg=0.1, reg_grid=(10.0, 1e-3), reg_search_users=100)
    spec = ModelSpec("biased_mf", lambda inputs: BiasedMF(cfg), topn=False, rating=True)
    ev = evaluate_model(spec, None, data, data, data, EvaluationSettings(folds=2), seed=1, topn=False)
    assert ev.params["reg"] == 1e-3
    assert {fit: chosen["reg"] for fit, chosen in ev.extra["chosen_by_fit"].items()} == \
        {"cv_fold1": 1e-3, "cv_fold2": 1e-3}

    split = ModelEvaluation("biased_mf", {"reg": 0.1})
    record_chosen(split, {"topn_fit": {"reg": 0.15}, "cv_fold1": {"reg": 0.05}, "cv_fold2": {}})
    assert split.params["reg"] == "topn_fit=0.15,cv_fold1=0.05"
