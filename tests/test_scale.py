"""The scale plan: which settings follow the data size, and that explicit flags win."""

from __future__ import annotations

import pytest

from latentlens.build.scale import LARGE_RATINGS, choose_scale, plan_for
from latentlens.build.settings import EvaluationSettings
from latentlens.cli import parser
from latentlens.cli.commands import build_settings


def test_auto_switches_to_large_at_the_threshold() -> None:
    assert choose_scale("auto", LARGE_RATINGS - 1) == "small"
    assert choose_scale("auto", LARGE_RATINGS) == "large"
    assert choose_scale("small", 10 * LARGE_RATINGS) == "small"
    assert choose_scale("large", 1) == "large"


def test_small_plan_changes_nothing() -> None:
    ev = EvaluationSettings(folds=2, max_eval_users=None)
    assert plan_for("small").apply(ev) == ev


def test_large_plan_samples_the_evaluation_unless_set_explicitly() -> None:
    planned = plan_for("large").apply(EvaluationSettings())
    assert (planned.folds, planned.max_eval_users, planned.cv_max_ratings) == (3, 5_000, 1_000_000)
    assert planned.rating_holdout_users == 20_000  # one holdout at the real density, not k-fold CV
    mine = EvaluationSettings(folds=5, max_eval_users=None, explicit=frozenset({"folds", "max_eval_users"}))
    kept = plan_for("large").apply(mine)
    assert (kept.folds, kept.max_eval_users, kept.cv_max_ratings) == (5, None, 1_000_000)
    assert kept.rating_holdout_users is None  # --folds asks for k-fold CV


@pytest.mark.parametrize(("argv", "expected"), [
    ([], (5, 20_000, None, frozenset())),
    (["--folds", "4", "--eval-users", "0"], (4, None, None, frozenset({"folds", "max_eval_users"}))),
    (["--cv-max-ratings", "250000"], (5, 20_000, 250_000, frozenset({"cv_max_ratings"}))),
])
def test_cli_flags_are_recorded_as_explicit(argv: list[str], expected: tuple) -> None:
    args = parser().parse_args(["build", *argv])
    ev = build_settings(args).evaluation
    assert (ev.folds, ev.max_eval_users, ev.cv_max_ratings, ev.explicit) == expected
    assert build_settings(args).scale == "auto"
