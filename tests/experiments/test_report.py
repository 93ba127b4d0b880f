"""`latentlens experiment report` on real SQLite event stores: the arms recomputed by the API's own hash, the
counts per arm, the verdict and its refusals, the JSON, the plot, and one line plus exit 2 for a bad store."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from latentlens.build.experiments import stats
from latentlens.cli import main
from latentlens.handler.events.model import Person, StoredEvent
from latentlens.handler.events.sqlite_store import SQLiteEventStore
from latentlens.handler.experiments import CHALLENGER, CHAMPION, Experiment

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EXPERIMENT = Experiment("lists-v2", 0.5, "s1")


def events_of(person: Person, shown: int, clicked: int, rated: int = 0) -> list[StoredEvent]:
    kinds = ["impression"] * shown + ["click"] * clicked + ["rating"] * rated
    return [StoredEvent(event_id=f"e{i}", person=person, movie_id=100 + i, type=kind,  # type: ignore[arg-type]
                        rating=4.0 if kind == "rating" else None, recommendation_id="r1",
                        at=T0 + timedelta(seconds=i)) for i, kind in enumerate(kinds)]


def write_store(path: Path, people: dict[Person, tuple[int, int, int]]) -> str:
    store = SQLiteEventStore(str(path))
    try:
        store.put([event for person, row in people.items() for event in events_of(person, *row)])  # one commit
    finally:
        store.close()
    return str(path)


def population(rate: dict[str, float], people: int = 3000, seed: int = 0,
               experiment: Experiment = EXPERIMENT) -> dict[Person, tuple[int, int, int]]:
    """Sessions shown 10 movies each, clicking by their arm's rate; every tenth person also rated one movie."""
    rng = np.random.default_rng(seed)
    found = {}
    for i in range(people):
        person = Person(session_id=f"p{i}")
        found[person] = (10, int(rng.binomial(10, rate[experiment.arm(person)])), int(i % 10 == 0))
    return found


def report(store: str, capsys: pytest.CaptureFixture, *more: str, experiment: Experiment = EXPERIMENT) -> dict:
    argv = ["experiment", "report", "--events", store, "--experiment", experiment.name, "--salt", experiment.salt,
            "--share", str(experiment.challenger_share), "--json", *more]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_the_arms_are_the_apis_and_the_counts_are_what_was_stored(tmp_path: Path, capsys) -> None:
    people = population({CHAMPION: 0.10, CHALLENGER: 0.14})
    people[Person(user_id=42)] = (0, 3, 1)  # clicks and a rating but no impression: not a unit
    found = report(write_store(tmp_path / "events.sqlite", people), capsys)
    for arm in (CHAMPION, CHALLENGER):
        mine = [row for person, row in people.items() if row[0] and EXPERIMENT.arm(person) == arm]
        assert found["arms"][arm]["people"] == len(mine)
        assert found["arms"][arm]["impressions"] == sum(r[0] for r in mine)
        assert found["arms"][arm]["clicks"] == sum(r[1] for r in mine)
        assert found["arms"][arm]["ratings"] == sum(r[2] for r in mine)
        assert found["arms"][arm]["ctr"] == pytest.approx(sum(r[1] for r in mine) / sum(r[0] for r in mine))
    assert found["people"] == 3000 and found["people_without_impressions"] == 1
    assert found["winner"] == "challenger" and found["verdict"].startswith("challenger wins")
    assert found["needed_people"] < 3000 and found["srm"]["p_value"] > stats.SRM_ALPHA
    low, high = found["lift"]["difference_interval"]
    assert low > 0 and low < found["lift"]["difference"] < high
    assert found["lift"]["bootstrap_interval"][0] > 0


def test_another_salt_is_another_split_of_the_same_people(tmp_path: Path, capsys) -> None:
    store = write_store(tmp_path / "events.sqlite", population({CHAMPION: 0.1, CHALLENGER: 0.1}, people=400))
    first = report(store, capsys)["arms"]
    other = report(store, capsys, experiment=Experiment("lists-v2", 0.5, "s2"))["arms"]
    assert first[CHAMPION]["people"] + first[CHALLENGER]["people"] == 400
    assert first[CHAMPION]["clicks"] != other[CHAMPION]["clicks"]


def test_a_broken_split_names_no_winner_and_says_why(tmp_path: Path, capsys) -> None:
    """Half the challenger's people lost their impressions (a logging bug): a clear lift, and no winner."""
    people = population({CHAMPION: 0.10, CHALLENGER: 0.20})
    for i, (person, row) in enumerate(list(people.items())):
        if EXPERIMENT.arm(person) == CHALLENGER and i % 2:
            people[person] = (0, row[1], row[2])
    found = report(write_store(tmp_path / "events.sqlite", people), capsys)
    assert found["srm"]["p_value"] < stats.SRM_ALPHA and found["lift"]["difference_interval"][0] > 0
    assert found["winner"] is None and found["verdict"].startswith("sample ratio mismatch")


def test_too_few_people_for_the_observed_difference_names_no_winner(tmp_path: Path, capsys) -> None:
    found = report(write_store(tmp_path / "events.sqlite", population({CHAMPION: 0.1, CHALLENGER: 0.13},
                                                                       people=300)), capsys)
    assert found["winner"] is None and found["needed_people"] > 300
    assert found["verdict"].startswith(f"sample too small: 300 people, the observed difference needs "
                                       f"{found['needed_people']:,}")


def test_the_table_and_the_plot(tmp_path: Path, capsys) -> None:
    import matplotlib.image

    store = write_store(tmp_path / "events.sqlite", population({CHAMPION: 0.10, CHALLENGER: 0.14}))
    plot = tmp_path / "report.png"
    assert main(["experiment", "report", "--events", store, "--experiment", "lists-v2", "--salt", "s1",
                 "--plot", str(plot)]) == 0
    table = capsys.readouterr().out
    lines = table.splitlines()
    assert lines[2].split() == ["arm", "people", "impressions", "clicks", "click-through", "95%", "interval",
                                "rating", "events"]
    assert lines[3].startswith("champion ") and lines[4].startswith("challenger ")
    assert "verdict:        challenger wins" in table and "sample ratio:" in table
    height, width, _ = matplotlib.image.imread(plot).shape
    assert (width, height) == (990, 396)  # 9 x 3.6 inches at 110 dpi
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def _other_sqlite(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE runs (id INTEGER)")
    return str(path)


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "other database", "no impressions",
                                  "bad share", "bad name", "plot folder missing"])
def test_bad_input_is_one_line_and_exit_2(case: str, tmp_path: Path, capsys) -> None:
    store = {
        "missing": lambda: str(tmp_path / "nope.sqlite"),
        "directory": lambda: str(tmp_path),
        "empty": lambda: (tmp_path / "empty.sqlite").touch() or str(tmp_path / "empty.sqlite"),
        "other database": lambda: _other_sqlite(tmp_path / "mlflow.db"),
        "no impressions": lambda: write_store(tmp_path / "e.sqlite", {Person(session_id="a"): (0, 2, 1)}),
    }.get(case, lambda: write_store(tmp_path / "e.sqlite", {Person(session_id="a"): (3, 1, 0)}))()
    more = {"bad share": ["--share", "1.5"], "bad name": ["--experiment", "no spaces"],
            "plot folder missing": ["--plot", str(tmp_path / "no" / "plot.png")]}.get(case, [])
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code = 2
    try:
        code = main(["experiment", "report", "--events", store, "--experiment", "x", *more])
    except SystemExit as exc:  # argparse's own refusals exit from the parser
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing created, nothing half-written
    expected = {"missing": "no event store there", "directory": "no event store there", "empty": "an empty file",
                "other database": "not an event store", "no impressions": "no impressions",
                "bad share": "between 0 and 1", "bad name": "experiment name",
                "plot folder missing": "No such file or directory"}[case]
    assert expected in err
