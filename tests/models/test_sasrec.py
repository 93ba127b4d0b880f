"""SASRec (the `deep` extra): the model contract, its windows and sequences by hand, the same seed giving the same
scores, an order only a sequential model sees, and the build skipping it with the reason (no torch, the large
plan) instead of failing."""

from __future__ import annotations

from importlib.util import find_spec

import numpy as np
import pytest

from latentlens.build.models import registry, sasrec
from latentlens.build.models.sasrec import SASRec, SASRecConfig, history_sequences, training_windows
from latentlens.build.scale import plan_for
from latentlens.build.settings import BuildSettings
from latentlens.build.stages.prepare import plan_skips
from tests.models.contract import RecommenderContract, fit_context
from tests.models.test_transitions import interactions

needs_torch = pytest.mark.skipif(find_spec("torch") is None, reason="torch not installed (the deep extra)")

# overfits the checkerboard without dropout (its next items are random within a group); 20 epochs at 0.3 learn
# the groups
SMALL = SASRecConfig(dim=16, heads=2, blocks=2, max_len=10, dropout=0.3, lr=0.005, batch_size=16, epochs=20)


@needs_torch
class TestSASRec(RecommenderContract):
    def make_model(self):
        return SASRec(SMALL)


def test_training_windows_by_hand() -> None:
    users = np.array([0, 0, 0, 0, 1, 1, 2])
    tokens = np.array([1, 2, 3, 4, 5, 6, 7])
    inputs, targets = training_windows(users, tokens, 2)
    targets = targets[..., 0]
    # user 0's pairs 1>2, 2>3, 3>4 cut from the latest back: [2>3, 3>4], then [pad, 1>2]; user 1: [pad, 5>6];
    # user 2 has no pair
    assert inputs.tolist() == [[2, 3], [0, 1], [0, 5]]
    assert targets.tolist() == [[3, 4], [0, 2], [0, 6]]


def test_training_windows_look_ahead_within_the_user() -> None:
    users = np.array([0, 0, 0, 1, 1])
    tokens = np.array([1, 2, 3, 4, 5])
    _, targets = training_windows(users, tokens, 3, ahead=2)
    # user 0: 1 -> (2, 3), 2 -> (3, none); user 1: 4 -> (5, none), never user 0's or 1's items across users
    assert targets.tolist() == [[[0, 0], [2, 3], [3, 0]], [[0, 0], [0, 0], [5, 0]]]


def test_history_sequences_are_the_latest_candidates_oldest_first() -> None:
    data = interactions([0, 0, 0, 0, 1], [0, 1, 2, 3, 2], [4, 1, 3, 2, 9])
    token_of = np.array([1, 2, 0, 3])  # item 2 is not a candidate
    seqs = history_sequences(data.histories.rows(np.array([0, 1, -1])), token_of, 2)
    # user 0 in time order: items 1, 3, 2, 0 -> candidates 1, 3, 0 -> the latest two, tokens 3 then 1
    assert seqs.tolist() == [[3, 1], [0, 0], [0, 0]]


@needs_torch
def test_same_seed_same_scores_another_seed_others() -> None:
    board = interactions(*_followers(seed=3))
    users = np.arange(board.n_users)
    config = SMALL.model_copy(update={"epochs": 2, "dropout": 0.2})

    def scores(seed: int) -> np.ndarray:
        return SASRec(config).fit(board, fit_context(seed)).score_users(users, board.histories.rows(users))

    np.testing.assert_array_equal(scores(5), scores(5))
    assert not np.allclose(scores(5), scores(6))


def _followers(seed: int, n_users: int = 60) -> tuple[list, list, list]:
    """Histories of random items 4..11 in which A (0) is always followed by B (1) and C (2) by D (3)."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        seq = list(rng.choice(np.arange(4, 12), 4, replace=False))
        for first, then in ((0, 1), (2, 3)):
            at = int(rng.integers(len(seq) + 1))
            seq[at:at] = [first, then]
        users += [u] * len(seq)
        items += seq
    return users, items, list(range(len(users)))


@needs_torch
def test_it_learns_what_follows_what() -> None:
    """After A comes B, after C comes D: the same items in two orders give two different first picks, which no
    order-blind model (EASE, item-kNN) can do."""
    board = interactions(*_followers(seed=1))
    model = SASRec(SMALL).fit(board, fit_context(0))
    ends_with_a = interactions([0, 0, 0], [5, 2, 0], [1, 2, 3], n_items=board.n_items)
    ends_with_c = interactions([0, 0, 0], [5, 0, 2], [1, 2, 3], n_items=board.n_items)
    for history, expected in ((ends_with_a, 1), (ends_with_c, 3)):
        items, _ = model.recommend(np.array([0]), history.histories, 1)
        assert items[0, 0] == expected


def test_without_torch_the_build_skips_it_with_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sasrec, "TORCH", "torch_not_installed_here")
    chosen = registry.selection(("popularity", "sasrec"))
    assert [spec.name for spec in chosen.specs] == ["popularity"]
    assert chosen.skipped["sasrec"].startswith("torch_not_installed_here not installed: pip install 'latentlens[deep]'")


def test_the_large_plan_skips_it_unless_models_names_it() -> None:
    specs = [registry.all_specs()[name] for name in ("ease", "sasrec")]
    large = plan_for("large")
    skipped = plan_skips(BuildSettings(), specs, large)
    assert list(skipped) == ["sasrec"] and "skipped by the large scale plan" in skipped["sasrec"]
    assert plan_skips(BuildSettings(models=("ease", "sasrec")), specs, large) == {}
    assert plan_skips(BuildSettings(quick=True), specs, large) == {}
    assert plan_skips(BuildSettings(), specs, plan_for("small")) == {}


@needs_torch  # without torch the selection skips it first, for that reason
def test_prepare_skips_it_at_the_large_plan_and_a_pin_on_it_fails_with_the_reason(small_dataset, tmp_path) -> None:
    from latentlens.build.settings import SettingsError
    from latentlens.build.stages.prepare import prepare

    settings = BuildSettings(data_dir=small_dataset, out=tmp_path / "a.duckdb", scale="large")
    prepared = prepare(settings)
    assert "sasrec" not in [spec.name for spec in prepared.specs]
    assert prepared.skipped["sasrec"].startswith("skipped by the large scale plan: full-softmax SASRec")
    with pytest.raises(SettingsError, match="--topn-champion sasrec: skipped by the large scale plan"):
        prepare(BuildSettings(data_dir=small_dataset, out=tmp_path / "b.duckdb", scale="large",
                              topn_champion="sasrec"))
