"""`latentlens experiment simulate` end to end, a few seeds of each case: the embedded data's temporal holdout built
with a challenger (two models only, so the build takes seconds), served by `latentlens serve` with the experiment
configured, every person through the API into a real SQLite store, then the report. The 40 seeds of each case are
bench/bench_experiments.py's."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from latentlens.build.experiments.population import holdout_population
from latentlens.build.experiments.settings import SimulateSettings
from latentlens.build.experiments.simulate import LIST_SIZE, simulate
from latentlens.cli import main
from latentlens.handler.events.model import Person
from latentlens.handler.experiments import CHALLENGER, CHAMPION, Experiment

pytestmark = [pytest.mark.build, pytest.mark.server, pytest.mark.slow]
EMBEDDED = Path(__file__).resolve().parents[2] / "data" / "ml-latest-small"
SEEDS = 3
TWO_MODELS = "popularity,ease"


def served_clicks(work: Path, seed: int) -> dict[str, int]:
    """What each arm's people should have clicked: their arm's stored list (the artifact's own table) against
    what they liked later. Computed without the API, to check what the API served."""
    liked = holdout_population(EMBEDDED, work / f"check-{seed}").liked_later
    experiment = Experiment("simulate", 0.5, str(seed))
    clicks = {CHAMPION: 0, CHALLENGER: 0}
    with duckdb.connect(str(work / "latentlens.duckdb"), read_only=True) as con:
        for arm, table in ((CHAMPION, "user_recommendations"), (CHALLENGER, "challenger_recommendations")):
            rows = con.execute(f"SELECT user_id, movie_id FROM {table} WHERE rank <= ?", [LIST_SIZE]).fetchall()
            clicks[arm] += sum(movie in liked[user] for user, movie in rows
                               if experiment.arm(Person(user_id=user)) == arm)
    return clicks


def test_the_champion_against_popularity_is_found_in_every_seed(tmp_path: Path, capsys) -> None:
    work = tmp_path / "work"
    assert main(["experiment", "simulate", "--models", TWO_MODELS, "--champion", "ease", "--challenger", "popularity",
                 "--seeds", str(SEEDS), "--workdir", str(work), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["champion"] == "ease" and found["challenger"] == "popularity" and found["people"] == 610
    assert found["truth"]["better"] == CHAMPION and found["truth"]["champion"] > 1.5 * found["truth"]["challenger"]
    assert [s["seed"] for s in found["seeds"]] == list(range(SEEDS))
    for seed in found["seeds"]:
        report = seed["report"]
        assert seed["variant_mismatches"] == 0
        assert report["people"] == 610 and report["people_without_impressions"] == 0
        assert sum(arm["impressions"] for arm in report["arms"].values()) == 610 * LIST_SIZE
        assert {arm: report["arms"][arm]["clicks"] for arm in (CHAMPION, CHALLENGER)} == served_clicks(
            work, seed["seed"])
        assert report["winner"] == CHAMPION, report["verdict"]
    assert found["better_named"] == SEEDS and found["worse_named"] == 0


def test_two_identical_arms_name_no_winner(tmp_path: Path) -> None:
    simulation = simulate(SimulateSettings(champion="ease", challenger="ease", models=tuple(TWO_MODELS.split(",")),
                                           seeds=SEEDS, work_dir=tmp_path / "work"))
    assert simulation.truth.champion == simulation.truth.challenger and simulation.truth.better is None
    assert [o.report.verdict.winner for o in simulation.outcomes] == [None] * SEEDS
    assert all(o.variant_mismatches == 0 and o.report.people == 610 for o in simulation.outcomes)
    # the split is the salt's: each seed puts different people in the challenger arm
    assert len({o.report.arms[CHALLENGER].people for o in simulation.outcomes}) > 1
