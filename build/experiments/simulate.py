"""`latentlens experiment simulate`: a temporal holdout replayed as a population through the real API.

1. Split the data with the build's own temporal holdout (population.py): each user's last 20% of ratings by time
   held out; the rest is a MovieLens release.
2. Build it once with `--challenger MODEL` (the challenger's lists exported beside the champion's).
3. Per seed: `latentlens serve` in a subprocess on 127.0.0.1 with an experiment whose salt is the seed and a new
   SQLite event store; every person fetches their list (n=10) as a user, posts an impression per movie shown
   and a click per shown movie they rated >= 4 in their held-out part; then the report runs on the store.

The people and their clicks are fixed by the data; a seed only changes who is in which arm. The truth is known:
the population's click-through when everyone is shown the champion's lists, and when everyone is shown the
challenger's (computed from the artifact's two tables), so each seed's verdict is right, wrong, or no winner.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from latentlens.build.experiments.population import Population, holdout_population
from latentlens.build.experiments.report import Report, build_report, read_counts
from latentlens.build.experiments.settings import ReportSettings, SimulateSettings
from latentlens.build.settings import SettingsError
from latentlens.handler.events.model import Person
from latentlens.handler.experiments import CHALLENGER, CHAMPION, Experiment, Variant
from latentlens.handler.schema import CHALLENGER_RECOMMENDATIONS, USER_RECOMMENDATIONS

EXPERIMENT = "simulate"
LIST_SIZE = 10
START_TIMEOUT_S = 60.0
CLIENTS = 4  # people replayed at once


@dataclass(frozen=True)
class Truth:
    """The whole population's click-through under each arm's lists: which arm is better, or None if equal."""

    champion: float
    challenger: float

    @property
    def better(self) -> Variant | None:
        if self.champion == self.challenger:
            return None
        return CHAMPION if self.champion > self.challenger else CHALLENGER


@dataclass(frozen=True)
class SeedOutcome:
    seed: int
    report: Report
    variant_mismatches: int  # answers whose `variant` was not the person's arm by Experiment.arm: must be 0


@dataclass(frozen=True)
class Built:
    artifact: Path
    champion: str
    challenger: str


@dataclass(frozen=True)
class Simulation:
    settings: SimulateSettings
    built: Built
    people: int
    truth: Truth
    outcomes: list[SeedOutcome]

    def count(self, winner: Variant | None) -> int:
        return sum(outcome.report.verdict.winner == winner for outcome in self.outcomes)

    @property
    def right(self) -> int:
        """Seeds whose report named the better arm (none when the arms are equal)."""
        return self.count(self.truth.better) if self.truth.better else 0

    @property
    def wrong(self) -> int:
        """Seeds whose report named a winner that is not the better arm (any winner when the arms are equal)."""
        return sum(o.report.verdict.winner is not None for o in self.outcomes) - self.right


def build_artifact(population: Population, settings: SimulateSettings, work: Path) -> Built:
    """The build's own pipeline on the training part, with the challenger's lists exported; no MLflow store."""
    from latentlens.build.engines import engine_named
    from latentlens.build.pipeline import run
    from latentlens.build.settings import BuildSettings
    from latentlens.build.tracking.tracker import NullTracker

    build = BuildSettings(data_dir=population.train_dir, out=work / "latentlens.duckdb", quick=True,
                          models=settings.models, topn_champion=settings.champion, challenger=settings.challenger,
                          register_model=False, progress=False)
    result = run(build, engine_named("inprocess"), NullTracker())
    return Built(build.out, str(result.topn_champion), settings.challenger)


def truth(artifact: Path, population: Population) -> Truth:
    """Click-through of the first LIST_SIZE movies of each table over every person of the population."""
    import duckdb
    import polars as pl

    pairs = [(user, movie) for user, movies in population.liked_later.items() for movie in movies]
    liked = pl.DataFrame(pairs, schema={"user_id": pl.Int32, "movie_id": pl.Int32}, orient="row")
    found = {}
    with duckdb.connect(str(artifact), read_only=True) as con:
        con.register("liked", liked.to_arrow())
        for arm, table in ((CHAMPION, USER_RECOMMENDATIONS), (CHALLENGER, CHALLENGER_RECOMMENDATIONS)):
            row = con.execute(  # table names are the schema's constants, never input
                f"SELECT count(*), count(l.user_id) FROM {table} r LEFT JOIN liked l USING (user_id, movie_id) "
                "WHERE r.rank <= ?", [LIST_SIZE]).fetchone()
            shown, clicked = row if row else (0, 0)
            if not shown:
                raise SettingsError(f"{artifact}: no {table} to serve: the build exported no challenger lists")
            found[arm] = clicked / shown
    return Truth(found[CHAMPION], found[CHALLENGER])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False


@contextmanager
def served(artifact: Path, store: Path, environment: dict[str, str], log: Path) -> Iterator[int]:
    """`latentlens serve` on a free 127.0.0.1 port with these LATENTLENS_* settings (none inherited from this
    process), its output in `log`; yields the port once /health answers, and stops it with SIGINT."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LATENTLENS_")} | environment
    command = [sys.executable, "-m", "latentlens", "serve", "--db", str(artifact), "--port", str(port),
               "--events", str(store)]
    with open(log, "wb") as output:
        proc = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
                raise SettingsError(f"latentlens serve did not start on port {port}: {tail[0]}")
            time.sleep(0.05)
        yield port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class _Client:
    """One keep-alive connection to the served API; a status other than the expected one is an error."""

    def __init__(self, port: int, key: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.key = key

    def call(self, method: str, path: str, body: object = None, expect: int = 200) -> dict:
        headers = {"content-type": "application/json", "x-latentlens-key": self.key} if body is not None else {}
        self.conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status != expect:
            raise SettingsError(f"{method} {path}: {response.status} {data[:200].decode(errors='replace')}")
        return json.loads(data)


def visit(client: _Client, user: int, liked: frozenset[int]) -> str:
    """One person: fetch their list, post an impression per movie shown and a click per one they liked later.
    Returns the answer's `variant`."""
    answer = client.call("GET", f"/users/{user}/recommendations?n={LIST_SIZE}")
    shown = [item["movie_id"] for item in answer["items"]]
    base = {"user_id": user, "recommendation_id": answer["recommendation_id"]}
    events = [{**base, "movie_id": m, "type": "impression", "event_id": f"i{m}"} for m in shown]
    events += [{**base, "movie_id": m, "type": "click", "event_id": f"c{m}"} for m in shown if m in liked]
    if events:
        client.call("POST", "/events", events, expect=202)
    return str(answer["variant"])


def _replay_some(port: int, people: list[tuple[int, frozenset[int]]], experiment: Experiment, key: str) -> int:
    client = _Client(port, key)
    try:
        return sum(visit(client, user, liked) != experiment.arm(Person(user_id=user)) for user, liked in people)
    finally:
        client.conn.close()


def replay(port: int, population: Population, experiment: Experiment, key: str) -> int:
    """Every person of the population through the API, CLIENTS at a time (each on its own connection, so the
    event store's group commit shares fsyncs between them); the number of answers whose variant was not the
    person's arm."""
    from concurrent.futures import ThreadPoolExecutor

    people = sorted(population.liked_later.items())
    with ThreadPoolExecutor(CLIENTS) as pool:
        found = pool.map(_replay_some, [port] * CLIENTS, [people[i::CLIENTS] for i in range(CLIENTS)],
                         [experiment] * CLIENTS, [key] * CLIENTS)
        return sum(found)


def run_seed(built: Built, population: Population, settings: SimulateSettings, seed: int,
             work: Path) -> SeedOutcome:
    """One experiment whose salt is the seed, on a new event store, then its report."""
    experiment = Experiment(EXPERIMENT, settings.share, str(seed))
    store = work / f"events-{seed}.sqlite"
    for stale in work.glob(f"{store.name}*"):
        stale.unlink()
    key = secrets.token_urlsafe(24)
    environment = {"LATENTLENS_EXPERIMENT": experiment.name, "LATENTLENS_EXPERIMENT_SHARE": str(settings.share),
                   "LATENTLENS_EXPERIMENT_SALT": experiment.salt, "LATENTLENS_EVENTS_KEY": key}
    with served(built.artifact, store, environment, work / f"serve-{seed}.log") as port:
        mismatches = replay(port, population, experiment, key)
    report_settings = ReportSettings(str(store), experiment.name, settings.share, experiment.salt)
    report = build_report(read_counts(str(store)), experiment, str(store), report_settings)
    return SeedOutcome(seed, report, mismatches)


def simulate(settings: SimulateSettings) -> Simulation:
    """Split, build once, then one experiment per seed (see the module docstring)."""
    with _work_dir(settings.work_dir) as work:
        population = holdout_population(settings.data_dir, work / "train")
        built = build_artifact(population, settings, work)
        known = truth(built.artifact, population)
        outcomes = [run_seed(built, population, settings, seed, work)
                    for seed in range(settings.first_seed, settings.first_seed + settings.seeds)]
    return Simulation(settings, built, len(population.liked_later), known, outcomes)


@contextmanager
def _work_dir(kept: Path | None) -> Iterator[Path]:
    if kept is not None:
        if kept.exists() and any(kept.iterdir()):
            raise SettingsError(f"{kept}: the work directory must be new or empty")
        kept.mkdir(parents=True, exist_ok=True)
        yield kept
        return
    with tempfile.TemporaryDirectory(prefix="latentlens-simulate-") as temporary:
        yield Path(temporary)


def _seed_row(outcome: SeedOutcome) -> tuple[str, ...]:
    r = outcome.report
    champion, challenger = r.arms[CHAMPION], r.arms[CHALLENGER]
    needed = f"{r.needed_people:,}" if r.needed_people is not None else "-"
    return (str(outcome.seed), f"{champion.people:,}", f"{challenger.people:,}", f"{champion.ctr:.4f}",
            f"{challenger.ctr:.4f}", f"{r.lift.difference:+.4f}", f"{r.lift.p_value:.2g}", f"{r.srm_p:.2g}", needed,
            r.verdict.winner or "-")


def format_simulation(sim: Simulation) -> str:
    """The simulation as the terminal shows it: the truth, one row per seed, and the counts."""
    header = ("seed", "champion people", "challenger people", "champion ctr", "challenger ctr", "difference", "p",
              "srm p", "needed", "winner")
    rows = [header, *(_seed_row(o) for o in sim.outcomes)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    table = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    better = sim.truth.better
    named = sum(o.report.verdict.winner is not None for o in sim.outcomes)
    lines = [
        f"simulated experiment: champion {sim.built.champion} against challenger {sim.built.challenger}, "
        f"{sim.people:,} people of {sim.settings.data_dir} (each user's last 20% of ratings by time held out; "
        f"lists of {LIST_SIZE}; a click on each shown movie rated >= 4 later)",
        f"truth, every person shown each arm's lists: champion {sim.truth.champion:.4f}, challenger "
        f"{sim.truth.challenger:.4f} click-through: "
        + (f"the better arm is the {better}" if better else "the arms are equal"),
        "", *table, "",
        (f"the better arm ({better}) named in {sim.right} of {len(sim.outcomes)} seeds, the worse in {sim.wrong}"
         if better else f"a winner named in {named} of {len(sim.outcomes)} seeds (the arms are equal)"),
    ]
    mismatches = sum(o.variant_mismatches for o in sim.outcomes)
    if mismatches:
        lines.append(f"WARNING: {mismatches} answers carried a variant other than the person's arm")
    return "\n".join(lines)


def simulation_json(sim: Simulation) -> dict:
    return {
        "champion": sim.built.champion, "challenger": sim.built.challenger, "people": sim.people,
        "data": str(sim.settings.data_dir), "share": sim.settings.share,
        "truth": {"champion": sim.truth.champion, "challenger": sim.truth.challenger, "better": sim.truth.better},
        "seeds": [{"seed": o.seed, "variant_mismatches": o.variant_mismatches, "report": o.report.as_json()}
                  for o in sim.outcomes],
        "better_named": sim.right, "worse_named": sim.wrong,
        "winners_named": sum(o.report.verdict.winner is not None for o in sim.outcomes),
    }
