"""`latentlens experiment report`: an experiment's arms as the event store saw them, and whether one arm won.

Every person in the store with at least one impression is a unit; their arm is recomputed with the handler's
own Experiment.arm from the experiment's name, share and salt (the API labels its answers with the same
function, so the two cannot disagree). Per arm: people, impressions, clicks, click-through and rating events;
then the sample-ratio test, the lift with its interval, the people the observed difference needs, and the
verdict (build/experiments/stats.py says how and why).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from latentlens.build.experiments import stats
from latentlens.build.experiments.settings import ReportSettings
from latentlens.build.settings import SettingsError
from latentlens.handler.events.model import EventType, Person, StoredEvent
from latentlens.handler.events.store import EventStore, EventStoreUnavailable
from latentlens.handler.experiments import CHALLENGER, CHAMPION, Experiment

COUNTED: tuple[EventType, ...] = ("impression", "click", "rating")
ARMS = (CHAMPION, CHALLENGER)


@dataclass(frozen=True)
class ArmReport:
    people: int
    impressions: int
    clicks: int
    ratings: int
    ctr: float
    ctr_interval: tuple[float, float]


@dataclass(frozen=True)
class Report:
    """What `experiment report` prints: the arms, the tests and the verdict."""

    experiment: Experiment
    store: str
    arms: dict[str, ArmReport]
    people_without_impressions: int   # in the store, with clicks or ratings but no impression: not units
    srm_statistic: float
    srm_p: float
    lift: stats.Lift
    bootstrap_interval: tuple[float, float]
    needed_people: int | None
    verdict: stats.Verdict

    @property
    def people(self) -> int:
        return sum(arm.people for arm in self.arms.values())

    def as_json(self) -> dict[str, Any]:
        lift = self.lift
        return _finite({
            "experiment": self.experiment.name, "challenger_share": self.experiment.challenger_share,
            "salt": self.experiment.salt, "store": self.store,
            "arms": {name: vars(arm) for name, arm in self.arms.items()},
            "people": self.people, "people_without_impressions": self.people_without_impressions,
            "srm": {"chi_square": self.srm_statistic, "p_value": self.srm_p, "threshold": stats.SRM_ALPHA},
            "lift": {"difference": lift.difference, "difference_interval": lift.difference_interval,
                     "p_value": lift.p_value, "bootstrap_interval": self.bootstrap_interval,
                     "relative": lift.relative, "relative_interval": lift.relative_interval},
            "needed_people": self.needed_people, "power": stats.POWER, "alpha": stats.ALPHA,
            "winner": self.verdict.winner, "verdict": self.verdict.reason,
        })


def _finite(value: Any) -> Any:
    """JSON has no NaN: an undefined figure (an arm without people, no clicks to divide by) is null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def experiment_of(settings: ReportSettings) -> Experiment:
    try:
        return Experiment(settings.experiment, settings.share, settings.salt)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def open_store(uri: str) -> EventStore:
    """The store `uri` names, which must exist: a report never creates one (nor writes into an empty file)."""
    from latentlens.handler.events.stores import DYNAMODB_SCHEME, open_event_store
    from latentlens.handler.settings import Settings

    if not uri.startswith(DYNAMODB_SCHEME):
        path = Path(uri)
        if not path.is_file():
            raise SettingsError(f"{uri}: no event store there (a file `latentlens serve --events` writes)")
        if path.stat().st_size == 0:
            raise SettingsError(f"{uri}: an empty file, not an event store")
    return open_event_store(uri, Settings())


def person_counts(events: Iterable[StoredEvent]) -> dict[Person, list[int]]:
    """Each person's impressions, clicks and rating events."""
    column = {kind: index for index, kind in enumerate(COUNTED)}
    counts: dict[Person, list[int]] = {}
    for event in events:
        if event.type in column:
            counts.setdefault(event.person, [0, 0, 0])[column[event.type]] += 1
    return counts


def read_counts(uri: str) -> dict[Person, list[int]]:
    store = open_store(uri)
    try:
        return person_counts(store.scan(COUNTED))
    except EventStoreUnavailable as exc:
        raise SettingsError(exc.detail) from None
    finally:
        store.close()


def _arm_report(arm: stats.Arm, ratings: int) -> ArmReport:
    z, se = stats.z_of(stats.ALPHA), math.sqrt(arm.variance)
    return ArmReport(people=arm.people, impressions=int(arm.impressions.sum()), clicks=int(arm.clicks.sum()),
                     ratings=ratings, ctr=arm.ctr, ctr_interval=(arm.ctr - z * se, arm.ctr + z * se))


def build_report(counts: dict[Person, list[int]], experiment: Experiment, store: str,
                 settings: ReportSettings) -> Report:
    """The report over per-person counts (`person_counts`); SettingsError when no person saw an impression.
    People are taken in key order, so the bootstrap draws the same resamples whatever order a store scans in."""
    units = {person: counts[person] for person in sorted(counts, key=lambda p: p.key) if counts[person][0] > 0}
    if not units:
        raise SettingsError(f"{store}: no impressions in this event store, so no person of experiment "
                            f"{experiment.name!r} to report on")
    rows: dict[str, list[list[int]]] = {arm: [] for arm in ARMS}
    for person, row in units.items():
        rows[experiment.arm(person)].append(row)
    table = {arm: np.asarray(found, dtype=np.int64).reshape(-1, 3) for arm, found in rows.items()}
    arms = {arm: stats.Arm.of(table[arm][:, 1], table[arm][:, 0]) for arm in ARMS}
    champion, challenger = arms[CHAMPION], arms[CHALLENGER]
    share = experiment.challenger_share
    srm_statistic, srm_p = stats.srm_test(champion.people, challenger.people, share)
    rng = np.random.default_rng(settings.bootstrap_seed)
    return Report(
        experiment=experiment, store=store,
        arms={arm: _arm_report(arms[arm], int(table[arm][:, 2].sum())) for arm in ARMS},
        people_without_impressions=len(counts) - len(units), srm_statistic=srm_statistic, srm_p=srm_p,
        lift=stats.lift(champion, challenger),
        bootstrap_interval=stats.bootstrap_difference(champion, challenger, rng, settings.bootstrap_resamples),
        needed_people=stats.needed_people(champion, challenger, share),
        verdict=stats.verdict(champion, challenger, share))


def experiment_report(settings: ReportSettings) -> Report:
    """Read the store named by `settings.events` and report on the experiment."""
    experiment = experiment_of(settings)
    return build_report(read_counts(settings.events), experiment, settings.events, settings)


def _number(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "-"


def _interval(interval: tuple[float, float], digits: int = 4, signed: bool = False) -> str:
    low, high = interval
    if not (math.isfinite(low) and math.isfinite(high)):
        return "-"
    sign = "+" if signed else ""
    return f"{low:{sign}.{digits}f} to {high:{sign}.{digits}f}"


def _percent(interval: tuple[float, float]) -> str:
    low, high = interval
    return f"{low:+.1%} to {high:+.1%}" if math.isfinite(low) and math.isfinite(high) else "-"


def _arm_lines(report: Report) -> list[str]:
    header = ("arm", "people", "impressions", "clicks", "click-through", "95% interval", "rating events")
    rows = [header] + [(name, f"{arm.people:,}", f"{arm.impressions:,}", f"{arm.clicks:,}", _number(arm.ctr),
                        _interval(arm.ctr_interval), f"{arm.ratings:,}") for name, arm in report.arms.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths,
                                                                                                   strict=True)))
            for row in rows]


def format_report(report: Report) -> str:
    """The report as the terminal shows it."""
    e, lift, arms = report.experiment, report.lift, report.arms
    srm_ok = "ok" if report.srm_p >= stats.SRM_ALPHA else "MISMATCH"
    needed = f"{report.needed_people:,}" if report.needed_people is not None else "- (no difference)"
    lines = [
        f"experiment {e.name!r} in {report.store} (challenger share {e.challenger_share:g}, salt {e.salt!r}); "
        "the unit is a person with at least one impression",
        "",
        *_arm_lines(report),
        "",
        f"sample ratio:   {arms[CHAMPION].people:,} : {arms[CHALLENGER].people:,} people against "
        f"{1 - e.challenger_share:g} : {e.challenger_share:g}, chi-square {report.srm_statistic:.2f}, "
        f"p = {report.srm_p:.3g} ({srm_ok}; below {stats.SRM_ALPHA:g} no winner is named)",
        f"difference:     {lift.difference:+.4f} click-through for the challenger, 95% interval "
        f"{_interval(lift.difference_interval, signed=True)} (delta method over people), p = {lift.p_value:.3g}",
        f"                bootstrap over people: {_interval(report.bootstrap_interval, signed=True)}",
        f"relative lift:  {lift.relative:+.1%}, 95% interval {_percent(lift.relative_interval)}"
        if math.isfinite(lift.relative) else "relative lift:  - (the champion has no clicks)",
        f"sample needed:  {needed} people for the observed difference at {stats.POWER:.0%} power, alpha "
        f"{stats.ALPHA:g}; {report.people:,} in the experiment",
        f"verdict:        {report.verdict.reason}",
    ]
    if report.people_without_impressions:
        lines.insert(-1, f"not counted:    {report.people_without_impressions:,} people with events but no "
                         "impression")
    return "\n".join(lines)
