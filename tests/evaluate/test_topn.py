"""evaluate_topn on a model whose recommendations are known."""

from __future__ import annotations

import numpy as np
import pytest

from latentlens.build.evaluate.topn import evaluate_topn, relevant_matrix
from latentlens.build.interactions import Interactions, Vocabulary
from latentlens.build.models.popularity import Popularity, PopularityConfig
from tests.models.contract import fit_context


def make(users, items, ratings, n_users, n_items) -> Interactions:
    return Interactions(Vocabulary(np.arange(n_users)), Vocabulary(np.arange(n_items)),
                        np.asarray(users, np.int32), np.asarray(items, np.int32),
                        np.asarray(ratings, np.float32), np.zeros(len(users), np.int64))


def test_evaluate_topn_excludes_train_and_uses_threshold() -> None:
    # popularity by count: item 0 (3 ratings) > item 1 (2) > item 2 (1) > items 3, 4 (0)
    train = make([0, 1, 2, 0, 1, 2], [0, 0, 0, 1, 1, 2], [5, 5, 5, 5, 5, 5], 4, 5)
    # user 3 (no train) likes item 0 -> hit at rank 1; user 2 likes item 1 (its top unseen) -> hit at 1;
    # user 0 rated item 3 only 3.5 (below 4: not relevant, so user 0 is not evaluated)
    test = make([3, 2, 0], [0, 1, 3], [4.0, 4.5, 3.5], 4, 5)
    model = Popularity(PopularityConfig(score="count")).fit(train, fit_context())
    m = evaluate_topn(model, train, test, k=2, batch_size=1)
    assert m["n_users"] == 2
    assert m["ndcg_at_2"] == pytest.approx(1.0)
    assert m["precision_at_2"] == pytest.approx(0.5)
    # recommended: user 2 -> [1, 3], user 3 -> [0, 1]; three distinct items of five
    assert m["coverage"] == pytest.approx(3 / 5)
    assert relevant_matrix(test, 4.0).nnz == 2
