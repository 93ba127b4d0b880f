"""The report's statistics against closed forms, scipy, and simulation where the truth is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from latentlens.build.experiments.stats import (
    SRM_ALPHA,
    Arm,
    bootstrap_difference,
    lift,
    needed_people,
    srm_test,
    verdict,
)

Z95, Z80 = 1.959963984540054, 0.8416212335729143  # the standard normal's 0.975 and 0.8 quantiles


def bernoulli(people: int, clicked: int) -> Arm:
    """`people` people with one impression each, the first `clicked` of them clicked."""
    return Arm.of(np.r_[np.ones(clicked), np.zeros(people - clicked)], np.ones(people))


def clustered(rng: np.random.Generator, people: int) -> Arm:
    """People who differ: impressions from 1 to ~60, each person's own click propensity (Beta(0.5, 4.5), mean 0.1):
    a person's impressions are correlated trials, as on a real page."""
    impressions = rng.geometric(1 / 15, size=people).clip(max=60)
    return Arm.of(rng.binomial(impressions, rng.beta(0.5, 4.5, size=people)), impressions)


def test_one_impression_per_person_is_the_binomial_variance() -> None:
    arm = bernoulli(200, 30)
    p = 30 / 200
    assert arm.ctr == pytest.approx(p)
    assert arm.variance == pytest.approx(p * (1 - p) / (200 - 1))


def test_equal_impressions_give_the_variance_of_the_mean_of_per_person_rates() -> None:
    """With every person shown k movies the ratio of sums is the mean of x_i / k, whose variance is known."""
    rng = np.random.default_rng(1)
    clicks = rng.integers(0, 11, size=300)
    arm = Arm.of(clicks, np.full(300, 10))
    assert arm.variance == pytest.approx(np.var(clicks / 10, ddof=1) / 300)


def test_the_difference_is_welchs_statistic_when_each_person_is_one_impression() -> None:
    champion, challenger = bernoulli(400, 40), bernoulli(500, 75)
    result = lift(champion, challenger)
    welch = scipy_stats.ttest_ind(challenger.clicks, champion.clicks, equal_var=False)
    se = result.difference / welch.statistic
    assert result.difference == pytest.approx(75 / 500 - 40 / 400)
    assert result.difference_interval == pytest.approx((result.difference - Z95 * se, result.difference + Z95 * se))
    assert result.p_value == pytest.approx(2 * scipy_stats.norm.sf(welch.statistic))


def test_the_relative_lift_and_its_interval_on_the_log_ratio() -> None:
    champion, challenger = bernoulli(1000, 100), bernoulli(1000, 150)
    result = lift(champion, challenger)
    assert result.relative == pytest.approx(0.5)
    log_se = math.sqrt(champion.variance / 0.1**2 + challenger.variance / 0.15**2)
    assert result.relative_interval == pytest.approx((1.5 * math.exp(-Z95 * log_se) - 1,
                                                      1.5 * math.exp(Z95 * log_se) - 1))
    assert math.isnan(lift(bernoulli(10, 0), bernoulli(10, 2)).relative)


def test_srm_is_pearsons_chi_square_against_the_configured_share() -> None:
    statistic, p = srm_test(520, 480, 0.5)
    assert statistic == pytest.approx(2 * 20**2 / 500)
    assert p == pytest.approx(scipy_stats.chi2.sf(1.6, df=1))
    assert srm_test(900, 100, 0.1) == pytest.approx((0.0, 1.0))
    # one degree of freedom: the same p-value as the two-sided normal approximation of the binomial
    assert srm_test(9000, 1100, 0.1)[1] == pytest.approx(2 * scipy_stats.norm.sf(
        abs(1100 - 10100 * 0.1) / math.sqrt(10100 * 0.1 * 0.9)))


def test_needed_people_is_the_two_proportion_formula_for_one_impression_each() -> None:
    champion, challenger = bernoulli(10_000, 1000), bernoulli(10_000, 1200)
    textbook_per_arm = (Z95 + Z80) ** 2 * (0.1 * 0.9 + 0.12 * 0.88) / 0.02**2  # ~3,838
    assert needed_people(champion, challenger, 0.5) == pytest.approx(2 * textbook_per_arm, rel=1e-3)
    # a 10% challenger arm needs more people in all for the same difference
    assert needed_people(champion, challenger, 0.1) == pytest.approx(
        (Z95 + Z80) ** 2 * (0.09 / 0.9 + 0.1056 / 0.1) / 0.02**2, rel=1e-3)
    assert needed_people(champion, bernoulli(500, 50), 0.5) is None  # no difference to detect


def test_at_the_needed_size_a_true_difference_is_found_four_times_in_five() -> None:
    """The power the size promises, by simulation: arms of the needed size, drawn from the true rates."""
    rng = np.random.default_rng(7)
    needed = needed_people(bernoulli(100_000, 10_000), bernoulli(100_000, 13_000), 0.5)
    assert needed is not None
    half, found = needed // 2, 0
    for _ in range(1000):
        champion = Arm.of(rng.random(half) < 0.10, np.ones(half))
        challenger = Arm.of(rng.random(half) < 0.13, np.ones(half))
        found += lift(champion, challenger).difference_interval[0] > 0
    assert 0.76 <= found / 1000 <= 0.84


def test_on_clustered_people_the_interval_holds_where_a_per_impression_test_does_not() -> None:
    """A/A on people who differ: the person-level interval is wrong about 5% of the time; the naive test that
    treats every impression as an independent trial calls a difference far more often."""
    rng = np.random.default_rng(3)
    person_level = naive = 0
    runs = 600
    for _ in range(runs):
        a, b = clustered(rng, 300), clustered(rng, 300)
        low, high = lift(a, b).difference_interval
        person_level += not low <= 0 <= high
        pooled = (a.clicks.sum() + b.clicks.sum()) / (a.impressions.sum() + b.impressions.sum())
        se = math.sqrt(pooled * (1 - pooled) * (1 / a.impressions.sum() + 1 / b.impressions.sum()))
        naive += abs(b.ctr - a.ctr) / se > Z95
    assert 0.025 <= person_level / runs <= 0.08
    assert naive / runs > 0.2


def test_the_bootstrap_over_people_agrees_with_the_delta_method() -> None:
    rng = np.random.default_rng(11)
    a, b = clustered(rng, 2000), clustered(rng, 2000)
    delta = lift(a, b).difference_interval
    boot = bootstrap_difference(a, b, np.random.default_rng(0), resamples=2000)
    width = delta[1] - delta[0]
    assert abs(boot[0] - delta[0]) < 0.1 * width and abs(boot[1] - delta[1]) < 0.1 * width
    assert all(math.isnan(v) for v in bootstrap_difference(bernoulli(1, 1), b, rng))


def test_a_clear_difference_on_enough_people_names_the_better_arm() -> None:
    decided = verdict(bernoulli(5000, 500), bernoulli(5000, 700), 0.5)
    assert decided.winner == "challenger" and "challenger wins" in decided.reason
    assert verdict(bernoulli(5000, 700), bernoulli(5000, 500), 0.5).winner == "champion"


def test_no_winner_on_a_sample_ratio_mismatch_however_clear_the_difference() -> None:
    champion, challenger = bernoulli(5000, 500), bernoulli(4500, 900)
    assert srm_test(5000, 4500, 0.5)[1] < SRM_ALPHA
    decided = verdict(champion, challenger, 0.5)
    assert decided.winner is None and decided.reason.startswith("sample ratio mismatch")
    assert verdict(champion, challenger, 4500 / 9500).winner == "challenger"  # the same people, the share they had


def test_no_winner_below_the_needed_sample_even_when_the_interval_excludes_zero() -> None:
    """|z| between 1.96 and 2.80: significant at 5%, but the observed difference needs more people for 80% power."""
    champion, challenger = bernoulli(1000, 100), bernoulli(1000, 130)
    low, _ = lift(champion, challenger).difference_interval
    assert low > 0
    decided = verdict(champion, challenger, 0.5)
    assert decided.winner is None and decided.reason.startswith("sample too small: 2,000 people")


def test_no_winner_between_equal_arms_or_without_people() -> None:
    assert verdict(bernoulli(800, 80), bernoulli(800, 80), 0.5).reason.startswith("the arms' click-through is the same")
    assert verdict(bernoulli(1, 0), bernoulli(1, 1), 0.5).winner is None


def test_an_arm_takes_people_with_impressions_only() -> None:
    with pytest.raises(ValueError, match="at least one impression"):
        Arm.of([1, 0], [1, 0])
    with pytest.raises(ValueError, match="one number per person"):
        Arm.of([1, 0], [1])
