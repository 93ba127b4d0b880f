"""k-fold rating cross-validation: the partition, and the numbers it reports."""

from __future__ import annotations

import numpy as np
import pytest

from latentlens.build.evaluate.rating_cv import cross_validate, kfold_splits
from latentlens.build.interactions import Interactions, Vocabulary
from latentlens.build.models.base import FitContext
from latentlens.build.models.baseline import Baseline, BaselineConfig


def test_kfold_covers_every_rating_exactly_once() -> None:
    folds = kfold_splits(103, 5, np.random.default_rng(0))
    assert len(folds) == 5
    allrows = np.concatenate(folds)
    np.testing.assert_array_equal(np.sort(allrows), np.arange(103))
    assert {len(f) for f in folds} <= {20, 21}


def test_kfold_is_random_but_reproducible() -> None:
    a = kfold_splits(50, 3, np.random.default_rng(1))
    b = kfold_splits(50, 3, np.random.default_rng(1))
    c = kfold_splits(50, 3, np.random.default_rng(2))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    assert not np.array_equal(a[0], np.arange(len(a[0])))  # shuffled, not contiguous blocks


def test_kfold_rejects_bad_k() -> None:
    with pytest.raises(ValueError):
        kfold_splits(10, 1, np.random.default_rng(0))
    with pytest.raises(ValueError):
        kfold_splits(3, 4, np.random.default_rng(0))


def _data() -> Interactions:
    rng = np.random.default_rng(4)
    n_users, n_items, n = 30, 20, 300
    pairs = rng.choice(n_users * n_items, n, replace=False)
    u, i = pairs // n_items, pairs % n_items
    r = np.clip(np.round((3 + rng.normal(0, 1, n_users)[u] + rng.normal(0, 0.3, n)) * 2) / 2, 0.5, 5.0)
    return Interactions(Vocabulary(np.arange(n_users)), Vocabulary(np.arange(n_items)), u.astype(np.int32),
                        i.astype(np.int32), r.astype(np.float32), np.zeros(n, np.int64))


def test_cross_validate_reports_per_fold_errors_that_match_a_manual_run() -> None:
    data = _data()
    res = cross_validate(lambda: Baseline(), data, 4, FitContext(rng=np.random.default_rng(7), show_progress=False))
    assert res["k"] == 4 and len(res["rmse"]) == len(res["mae"]) == len(res["fit_seconds"]) == 4
    assert res["rmse_mean"] == pytest.approx(np.mean(res["rmse"]))
    assert all(m <= r for m, r in zip(res["mae"], res["rmse"], strict=True))  # MAE never exceeds RMSE
    assert all(s >= 0 for s in res["fit_seconds"])
    # redo fold 0 by hand with the same generator stream
    folds = kfold_splits(data.n_ratings, 4, np.random.default_rng(7))
    mask = np.ones(data.n_ratings, bool)
    mask[folds[0]] = False
    test = data.subset(~mask)
    model = Baseline().fit(data.subset(mask), FitContext(rng=np.random.default_rng(0), show_progress=False))
    err = model.predict(test.user_idx, test.item_idx) - test.rating
    assert res["rmse"][0] == pytest.approx(float(np.sqrt(np.mean(err**2))), rel=1e-6)
    assert res["mae"][0] == pytest.approx(float(np.mean(np.abs(err))), rel=1e-6)


def test_cross_validate_sees_that_user_biases_help() -> None:
    data = _data()  # ratings driven by strong user effects
    run = lambda cfg: cross_validate(lambda: Baseline(cfg), data, 5,  # noqa: E731 -- one expression, run twice below
                                     FitContext(rng=np.random.default_rng(0), show_progress=False))
    with_users = run(BaselineConfig(reg_user=1.0, reg_item=1.0))
    no_users = run(BaselineConfig(reg_user=1e9, reg_item=1.0))
    assert with_users["rmse_mean"] < no_users["rmse_mean"] - 0.3
