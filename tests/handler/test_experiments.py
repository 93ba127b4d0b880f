"""A/B arms (handler/experiments.py): the same person, the same arm; the shares as configured; a new salt or a new
experiment splits people afresh."""

from __future__ import annotations

import math

import pytest

from latentlens.handler.events.model import Person
from latentlens.handler.experiments import CHALLENGER, CHAMPION, Experiment

PEOPLE = [Person(user_id=i) for i in range(1, 10_001)] + [Person(session_id=f"s{i}") for i in range(10_000)]


def challenger_share(experiment: Experiment) -> float:
    return sum(experiment.arm(p) == CHALLENGER for p in PEOPLE) / len(PEOPLE)


@pytest.mark.parametrize("share", [0.5, 0.1, 0.9])
def test_the_challenger_share_is_the_configured_one_within_sampling_error(share):
    observed = challenger_share(Experiment("try", share))
    assert abs(observed - share) < 4 * math.sqrt(share * (1 - share) / len(PEOPLE))


def test_an_arm_depends_on_the_person_the_experiment_and_the_salt_only():
    one = Experiment("try", 0.5, salt="a")
    assert [one.arm(p) for p in PEOPLE[:500]] == [Experiment("try", 0.5, salt="a").arm(p) for p in PEOPLE[:500]]
    assert {one.arm(p) for p in PEOPLE} == {CHAMPION, CHALLENGER}
    assert one.arm(Person(user_id=7)) == one.arm(Person(user_id=7))
    # user 7 and session "7" are different people
    assert [one.position(Person(user_id=i)) for i in range(50)] != [one.position(Person(session_id=str(i)))
                                                                    for i in range(50)]
    for other in (Experiment("try", 0.5, salt="b"), Experiment("try-2", 0.5, salt="a")):
        same = sum(one.arm(p) == other.arm(p) for p in PEOPLE) / len(PEOPLE)
        assert abs(same - 0.5) < 4 * math.sqrt(0.25 / len(PEOPLE))  # independent splits agree half the time


def test_a_larger_share_keeps_everyone_already_in_the_challenger_arm():
    small, large = Experiment("ramp", 0.1), Experiment("ramp", 0.3)
    assert all(large.arm(p) == CHALLENGER for p in PEOPLE if small.arm(p) == CHALLENGER)


@pytest.mark.parametrize(("name", "share"), [("", 0.5), ("has space", 0.5), ("x" * 65, 0.5), ("ok", 0.0),
                                             ("ok", 1.0), ("ok", -0.1)])
def test_a_bad_name_or_share_is_refused(name, share):
    with pytest.raises(ValueError):
        Experiment(name, share)
