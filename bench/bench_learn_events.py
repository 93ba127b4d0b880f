"""What `latentlens build --events` adds to a build: reading, checking and folding N rating events, measured.

    python bench/bench_learn_events.py [DATA] [--events 10000] [--repeat 5] [--seed 0] [--keep FILE]
    python bench/bench_learn_events.py --docs learn-events    # also write docs/results/learn-events.md

A seeded store of `--events` rating events is written with the SQLite store `latentlens serve --events` uses:
a third from users of the dataset (some re-rating a movie they rated, so the fold overrides the file's rating), the
rest from sessions of 5 to 40 ratings each, movies drawn by popularity, half stars, times in 2026. Then the build's
own step (build/stages/events.py `learn_from_events`: the store's scan, the checks, the fold, the session ids) runs
`--repeat` times on the loaded DATA (default the embedded ml-latest-small), each run's wall and CPU-seconds printed
with their range. The step's cost is the whole of what --events adds before training; the models then train on
the added ratings (a few % more here), which `python bench/bench_build.py DATA -- --events FILE` (with the store
`--keep` leaves) times end to end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import docs_results
import numpy as np

REPO = Path(__file__).resolve().parents[1]
START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def synthetic_events(data, n: int, seed: int) -> list:
    """`n` rating events: a third by the dataset's users (their own rated movies now and then), the rest by
    sessions of 5..40 ratings; movies drawn by popularity."""
    from latentlens.handler.events.model import Person, StoredEvent

    rng = np.random.default_rng(seed)
    counts = data.ratings["movie_id"].value_counts()
    movies, weights = counts["movie_id"].to_numpy(), counts["count"].to_numpy().astype(float)
    users = data.ratings["user_id"].unique().sort().to_numpy()
    people: list[Person] = []
    while len(people) < n // 3:
        people.append(Person(user_id=int(rng.choice(users))))
    session = 0
    while len(people) < n:
        session += 1
        people += [Person(session_id=f"bench-{session:05d}")] * int(rng.integers(5, 41))
    people = people[:n]
    picked = rng.choice(movies, size=n, p=weights / weights.sum())
    stars = rng.integers(1, 11, size=n) / 2
    times = START + np.sort(rng.uniform(0, 30 * 86_400, size=n))
    return [StoredEvent(f"e{i}", person, int(movie), "rating", float(star), None,
                        StoredEvent.from_ms(round(float(at) * 1000)))
            for i, (person, movie, star, at) in enumerate(zip(people, picked, stars, times, strict=True))]


def write_store(path: Path, events: list) -> None:
    from latentlens.handler.events.sqlite_store import SQLiteEventStore

    store = SQLiteEventStore(str(path))
    try:
        for start in range(0, len(events), 1000):
            store.put(events[start:start + 1000])
    finally:
        store.close()


def measure(data_dir: Path, store: Path, args: argparse.Namespace) -> int:
    from latentlens.build.data.loader import load_movielens
    from latentlens.build.stages.events import learn_from_events

    data = load_movielens(data_dir)
    write_store(store, synthetic_events(data, args.events, args.seed))
    print(f"{data.name}: {data.ratings.height:,} ratings; store {store.name}: {args.events:,} rating events")
    walls, cpus = [], []
    for round_ in range(1, args.repeat + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        folded, learned = learn_from_events(data, str(store))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        print(f"run {round_}: {walls[-1]:.3f} s wall, {cpus[-1]:.3f} CPU-s; {learned.used:,} of {learned.read:,} "
              f"events used, {learned.sessions:,} sessions as users, {folded.ratings.height:,} ratings")
    print(f"learn_from_events: wall {min(walls):.3f}..{max(walls):.3f} s (median {statistics.median(walls):.3f}), "
          f"CPU {min(cpus):.3f}..{max(cpus):.3f} s (median {statistics.median(cpus):.3f}) over {args.repeat} runs")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="?", type=Path, default=REPO / "data" / "ml-latest-small")
    p.add_argument("--events", type=int, default=10_000, help="rating events in the store")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", type=Path, default=None, help="write the store here and keep it (else a temporary file)")
    args = p.parse_args()
    if args.keep is not None:
        args.keep.unlink(missing_ok=True)
        return measure(args.data, args.keep, args)
    with tempfile.TemporaryDirectory(prefix="bench-learn-events-") as scratch:
        return measure(args.data, Path(scratch) / "events.sqlite", args)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(docs_results.run(main))
