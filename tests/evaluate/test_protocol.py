"""The evaluation data of a build: the large plan's rating holdout keeps each sampled user's
history, trains linear models on everything else, and states what it sampled."""

from __future__ import annotations

import numpy as np

from latentlens.build.evaluate.protocol import clustered_rmse, evaluation_data, rating_holdout
from latentlens.build.interactions import Interactions, Vocabulary
from latentlens.build.settings import EvaluationSettings


def _data(n_users: int = 300, seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    counts = rng.integers(2, 60, n_users)
    user = np.repeat(np.arange(n_users), counts)
    item = np.concatenate([rng.choice(500, c, replace=False) for c in counts])
    return Interactions(Vocabulary(np.arange(n_users) + 1), Vocabulary(np.arange(500) + 1),
                        user.astype(np.int32), item.astype(np.int32),
                        rng.integers(1, 11, user.size).astype(np.float32) / 2, rng.integers(0, 10**9, user.size))


def test_holdout_partitions_the_sampled_users_ratings() -> None:
    data = _data()
    h = rating_holdout(data, 100, 0.1, np.random.default_rng(1))
    assert h.n_users == 100
    assert h.test.n_ratings + h.train_all.n_ratings == data.n_ratings
    sampled = np.unique(h.test.user_idx)
    assert sampled.size == 100 and set(np.unique(h.train_sampled.user_idx)) == set(sampled)
    counts = np.bincount(data.user_idx, minlength=data.n_users)
    test_counts = np.bincount(h.test.user_idx, minlength=data.n_users)[sampled]
    expected = np.clip(np.floor(0.1 * counts[sampled] + 0.5), 1, counts[sampled] - 1)
    assert (test_counts == expected).all()
    # every training rating of a sampled user is in train_sampled: whole histories, real density
    in_sample = np.isin(h.train_all.user_idx, sampled)
    assert in_sample.sum() == h.train_sampled.n_ratings
    pairs = lambda d: set(zip(d.user_idx.tolist(), d.item_idx.tolist(), strict=True))  # noqa: E731 -- a one-line helper
    assert not pairs(h.test) & pairs(h.train_all)


def test_small_settings_keep_k_fold_cv_and_the_large_ones_are_logged() -> None:
    data = _data()
    small = evaluation_data(data, EvaluationSettings(), 42)
    assert small.rating_holdout is None and small.cv_data is data and small.sampled == {}
    assert "5-fold CV on every rating" in small.caption()
    sampled_cv = evaluation_data(data, EvaluationSettings(max_eval_users=50), 42)  # users sampled, k-fold CV
    assert sampled_cv.rating_holdout is None
    assert sampled_cv.train.n_ratings + sampled_cv.test.n_ratings == data.n_ratings
    assert (f"50 sampled users (full training history), trained on all {sampled_cv.train.n_ratings:,} other ratings; "
            "rating: 5-fold CV on every rating") in sampled_cv.caption()
    large = evaluation_data(data, EvaluationSettings(max_eval_users=50, rating_holdout_users=80), 42)
    assert large.sampled["topn_eval_users"] == 50 and large.sampled["rating_holdout_users"] == 80
    # only the 50 evaluated users hold out their latest ratings, the rating holdout takes 80 of the
    # others, and everything else is one training split for both protocols
    h = large.rating_holdout
    assert large.train is h.train_all
    assert large.train.n_ratings + large.test.n_ratings + h.test.n_ratings == data.n_ratings
    evaluated, rated = np.unique(large.test.user_idx), np.unique(h.test.user_idx)
    assert evaluated.size == 50 and rated.size == 80 and not set(evaluated) & set(rated)
    counts = np.bincount(data.user_idx, minlength=data.n_users)
    train_counts = np.bincount(large.train.user_idx, minlength=data.n_users)
    others = np.setdiff1d(np.arange(data.n_users), np.concatenate([evaluated, rated]))
    assert (train_counts[others] == counts[others]).all()
    assert (train_counts[evaluated] < counts[evaluated]).all() and (train_counts[rated] < counts[rated]).all()
    assert set(np.unique(h.train_sampled.user_idx)) == set(rated)
    assert large.sampled["topn_train_ratings"] == large.train.n_ratings
    caption = large.caption()
    assert "50 sampled users (full training history)" in caption and "of 80 other sampled users" in caption
    assert f"one training split of all {large.train.n_ratings:,} other ratings for both protocols" in caption
    again = evaluation_data(data, EvaluationSettings(max_eval_users=50, rating_holdout_users=80), 42)
    assert (again.rating_holdout.test.item_idx == large.rating_holdout.test.item_idx).all()


def test_clustered_standard_error_grows_when_a_users_errors_move_together() -> None:
    rng = np.random.default_rng(0)
    user = np.repeat(np.arange(200), 20)
    truth = np.zeros(user.size)
    independent = rng.normal(0, 1, user.size)
    shared = rng.normal(0, 1, 200)[user] * 0.9 + rng.normal(0, 0.45, user.size)
    r1, se1 = clustered_rmse(independent, truth, user)
    r2, se2 = clustered_rmse(shared, truth, user)
    assert abs(r1 - np.sqrt((independent ** 2).mean())) < 1e-12
    assert 0 < se1 < 0.02 < se2  # 4,000 independent errors vs 200 clusters of correlated ones


def test_a_model_on_both_protocols_fits_once_in_the_large_plan() -> None:
    """The top-N training split is the linear models' rating training set: one fit serves both."""
    from types import SimpleNamespace

    from latentlens.build.models.baseline import Baseline, BaselineConfig
    from latentlens.build.models.fit_cache import FitCache
    from latentlens.build.models.registry import ModelSpec
    from latentlens.build.stages.evaluate import evaluate_model

    fitted_on = []

    class CountingBaseline(Baseline):
        def fit(self, data, ctx):
            fitted_on.append(data.n_ratings)
            return super().fit(data, ctx)

    data = _data()
    settings = EvaluationSettings(max_eval_users=50, rating_holdout_users=80)
    split = evaluation_data(data, settings, 42)
    spec = ModelSpec("baseline", lambda inputs: CountingBaseline(BaselineConfig()), rating=True, linear_fit=True)
    ev = evaluate_model(spec, SimpleNamespace(fits=FitCache()), split.cv_data, split.train, split.test, settings, 42,
                        rating_holdout=split.rating_holdout)
    assert fitted_on == [split.train.n_ratings]
    assert ev.topn["ndcg_at_10"] >= 0 and ev.rating_mean["rmse"] > 0
    assert ev.rating_folds[0]["fit_seconds"] == ev.fit_seconds
    # a model the plan trains on the rating users' histories alone still fits for each protocol
    fitted_on.clear()
    sampled_spec = ModelSpec("baseline", spec.factory, rating=True, linear_fit=False)
    evaluate_model(sampled_spec, SimpleNamespace(fits=FitCache()), split.cv_data, split.train, split.test, settings,
                   42, rating_holdout=split.rating_holdout)
    assert fitted_on == [split.train.n_ratings, split.rating_holdout.train_sampled.n_ratings]


def test_released_matrices_are_rebuilt_equal_on_next_use() -> None:
    data = _data()
    matrix, binary = data.matrix, data.binary
    data.release_matrices()
    assert "matrix" not in data.__dict__ and "binary" not in data.__dict__
    assert (data.matrix != matrix).nnz == 0 and (data.binary != binary).nnz == 0
    split = evaluation_data(data, EvaluationSettings(max_eval_users=50, rating_holdout_users=80), 42)
    held = [id(d) for d in split.interactions()]
    assert id(split.train) in held and id(split.rating_holdout.train_sampled) in held and id(split.test) in held
