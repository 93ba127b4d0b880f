"""The statistics of an A/B report: pure functions over per-person counts (numpy and scipy, no I/O).

The unit is the person, not the impression. A person's impressions and clicks are correlated (someone who clicks
once tends to click again; a list that suits them suits them all the way down), so the impressions of an arm are
not independent trials and a per-impression two-proportion test understates the variance: its interval is too
narrow, it calls winners that are noise. Arms are assigned per person, so people are the independent draws, and
an arm's click-through is a ratio of two per-person sums, clicks / impressions. Its variance comes from the
delta method (the linearisation of a ratio of means):

    CTR = sum(x) / sum(y)        var(CTR) ~= sum((x_i - CTR * y_i)^2) / (n (n - 1) mean(y)^2)

with x_i, y_i person i's clicks and impressions and n the arm's people; a percentile bootstrap that resamples
people (bootstrap_difference) is the check on it. With one impression per person this is the binomial variance
p(1 - p) / (n - 1): the per-impression test is the special case where every person is one impression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

Winner = Literal["champion", "challenger"]
SRM_ALPHA = 0.001  # below this p-value the split is not what was configured: no winner is named
ALPHA = 0.05       # two-sided, for the interval and the needed sample size
POWER = 0.8


@dataclass(frozen=True)
class Arm:
    """One arm's people: each person's clicks and impressions (every person at least one impression)."""

    clicks: np.ndarray
    impressions: np.ndarray

    @classmethod
    def of(cls, clicks: object, impressions: object) -> Arm:
        x, y = np.asarray(clicks, dtype=np.float64), np.asarray(impressions, dtype=np.float64)
        if x.shape != y.shape or x.ndim != 1:
            raise ValueError("clicks and impressions: one number per person, the same people")
        if (y < 1).any() or (x < 0).any():
            raise ValueError("every person has at least one impression and no negative clicks")
        return cls(x, y)

    @property
    def people(self) -> int:
        return int(self.impressions.shape[0])

    @property
    def ctr(self) -> float:
        """Click-through: the arm's clicks over its impressions (nan for an arm without people)."""
        total = self.impressions.sum()
        return float(self.clicks.sum() / total) if total else math.nan

    @property
    def variance(self) -> float:
        """The delta method's variance of `ctr` over people (nan below two people)."""
        n = self.people
        if n < 2:
            return math.nan
        residual = self.clicks - self.ctr * self.impressions
        return float(np.sum(residual**2) / (n * (n - 1) * self.impressions.mean() ** 2))

    @property
    def person_variance(self) -> float:
        """The variance one person adds to `ctr` (variance x people): what a sample size is computed from."""
        return self.variance * self.people


@dataclass(frozen=True)
class Lift:
    """The challenger's click-through against the champion's: the difference (challenger - champion) and the
    relative lift (challenger / champion - 1), each with its two-sided interval, and the difference's p-value."""

    difference: float
    difference_interval: tuple[float, float]
    p_value: float
    relative: float
    relative_interval: tuple[float, float]


def z_of(alpha: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2))


def lift(champion: Arm, challenger: Arm, alpha: float = ALPHA) -> Lift:
    """The difference by the delta method (the arms independent); the relative lift's interval on the log of the
    ratio, whose variance is the sum of the relative variances (nan when an arm has no clicks)."""
    a, b, z = champion.ctr, challenger.ctr, z_of(alpha)
    difference = b - a
    se = math.sqrt(champion.variance + challenger.variance)
    p_value = float(2 * stats.norm.sf(abs(difference) / se)) if se > 0 else (1.0 if difference == 0 else 0.0)
    nan2 = (math.nan, math.nan)
    if a > 0 and b > 0:
        log_ratio = math.log(b / a)
        log_se = math.sqrt(champion.variance / a**2 + challenger.variance / b**2)
        relative_interval = (math.exp(log_ratio - z * log_se) - 1, math.exp(log_ratio + z * log_se) - 1)
        relative = b / a - 1
    else:
        relative, relative_interval = (b / a - 1 if a > 0 else math.nan), nan2
    return Lift(difference, (difference - z * se, difference + z * se), p_value, relative, relative_interval)


def srm_test(champion_people: int, challenger_people: int, challenger_share: float) -> tuple[float, float]:
    """Sample-ratio mismatch: Pearson's chi-square (one degree of freedom) of the people per arm against the
    configured share; (statistic, p-value). A tiny p-value means the arms are not the split that was configured
    (a bug in assignment or in logging), and then no difference between them can be trusted."""
    total = champion_people + challenger_people
    if total == 0:
        return math.nan, math.nan
    expected = [total * (1 - challenger_share), total * challenger_share]
    statistic, p_value = stats.chisquare([champion_people, challenger_people], expected)
    return float(statistic), float(p_value)


def needed_people(champion: Arm, challenger: Arm, challenger_share: float, alpha: float = ALPHA,
                  power: float = POWER) -> int | None:
    """People (both arms together, split by the configured share) that a two-sided test at `alpha` needs to
    detect the observed difference with probability `power`, with each arm's observed per-person variance:

        N = (z_{1-alpha/2} + z_{power})^2 (s_a^2 / (1 - share) + s_b^2 / share) / difference^2

    None when there is no difference to detect, or no variance to compute it from."""
    difference = challenger.ctr - champion.ctr
    spread = champion.person_variance / (1 - challenger_share) + challenger.person_variance / challenger_share
    if not difference or not math.isfinite(difference) or not math.isfinite(spread):
        return None
    z = z_of(alpha) + float(stats.norm.ppf(power))
    return math.ceil(z**2 * spread / difference**2)


def _resampled_ctr(arm: Arm, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """`resamples` click-throughs of the arm, each over its people drawn with replacement (in chunks of at most
    about four million draws, so a large arm never holds resamples x people indices at once)."""
    n = arm.people
    chunk = max(1, 4_000_000 // max(n, 1))
    out = np.empty(resamples)
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        picks = rng.integers(0, n, size=(rows, n))
        out[start:start + rows] = arm.clicks[picks].sum(axis=1) / arm.impressions[picks].sum(axis=1)
    return out


def bootstrap_difference(champion: Arm, challenger: Arm, rng: np.random.Generator, resamples: int = 2000,
                         alpha: float = ALPHA) -> tuple[float, float]:
    """The percentile bootstrap's interval of the difference, resampling people within each arm."""
    if champion.people < 2 or challenger.people < 2:
        return math.nan, math.nan
    differences = _resampled_ctr(challenger, rng, resamples) - _resampled_ctr(champion, rng, resamples)
    low, high = np.quantile(differences, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


@dataclass(frozen=True)
class Verdict:
    """The arm that won, or None and why not."""

    winner: Winner | None
    reason: str


def verdict(champion: Arm, challenger: Arm, challenger_share: float, alpha: float = ALPHA,
            power: float = POWER) -> Verdict:
    """A winner only when the split is the configured one (SRM p-value at least SRM_ALPHA), the sample reaches
    the size the observed difference needs at `power`, and the interval of the difference excludes zero."""
    _, srm_p = srm_test(champion.people, challenger.people, challenger_share)
    if not srm_p >= SRM_ALPHA:
        return Verdict(None, f"sample ratio mismatch: {champion.people} champion and {challenger.people} "
                             f"challenger people where the configured share was {challenger_share:g} "
                             f"(p = {srm_p:.2g} < {SRM_ALPHA:g}); the assignment or the logging is broken, "
                             "so no difference between the arms can be trusted")
    if champion.people < 2 or challenger.people < 2:
        return Verdict(None, "an arm has fewer than two people: nothing to compare")
    needed = needed_people(champion, challenger, challenger_share, alpha, power)
    people = champion.people + challenger.people
    if needed is None:
        return Verdict(None, "the arms' click-through is the same: no difference to detect")
    if people < needed:
        return Verdict(None, f"sample too small: {people:,} people, the observed difference needs {needed:,} "
                             f"for {power:.0%} power at alpha {alpha:g}")
    result = lift(champion, challenger, alpha)
    low, high = result.difference_interval
    if low <= 0 <= high:
        return Verdict(None, f"no significant difference: the {1 - alpha:.0%} interval of the difference "
                             "includes zero")
    winner: Winner = "challenger" if result.difference > 0 else "champion"
    return Verdict(winner, f"{winner} wins: click-through {result.difference:+.4f} for the challenger "
                           f"({1 - alpha:.0%} interval {low:+.4f} to {high:+.4f}), p = {result.p_value:.2g}, "
                           f"{people:,} people where {needed:,} are needed")
