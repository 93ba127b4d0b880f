"""Warm latency of a user's list with their rating events folded in, from the local (SQLite) event store.

    python bench/bench_lists.py --db artifacts/latentlens.duckdb
    python bench/bench_lists.py --synthetic /tmp/synth25m.duckdb      # an ML-25M-shaped artifact, built if absent

The event store is a fresh SQLite file holding, for each of --users users of the artifact, --events rating events
since the build (random movies of the catalogue, random half stars; the fold reads at most the latest 50), and
--noise events of other people (sessions), so the store's index is not a toy. Each run then sends --requests
`GET /users/{id}/recommendations` for random users among them through the Lambda entry (API Gateway HTTP API v2
events, in-process, as bench/bench_handler.py's warm figures), after one warm-up request per user; it prints
p50/p90/p99/max and the process's CPU-seconds per run, then the range over the --runs runs. The same requests
to the same artifact with no event store configured (the stored list alone) are the baseline, run alternately so
both see the same machine. Target: warm p99 <= 10 ms with events.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import docs_results
from bench_handler import build_synthetic, make_event, user_ids

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def synthetic(path: Path) -> None:
    """bench_handler's ML-25M-shaped artifact, plus 20 movies rated next after each movie (next_movies, which the
    fold also reads for a person's latest 3 ratings), and its manifest again."""
    import duckdb

    from latentlens.handler import schema

    build_synthetic(path, 162_541, 62_423)
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO next_movies SELECT m, r, 1 + (hash(m * 29 + r) % 62423)::INT, 1.0 - r / 40.0 "
                    "FROM range(1, 62424) a(m), range(1, 21) b(r) ORDER BY m, r")
    Path(schema.manifest_path(str(path))).write_text(schema.manifest_text(schema.sha256_file(path), path.name,
                                                                          schema.fingerprint_file(path)))


def fill_store(path: Path, users: list[int], per_user: int, noise: int, movies: list[int], since: datetime,
               seed: int) -> int:
    """Rating events after `since` (the build's time) for each user, one a second, plus other people's events."""
    from latentlens.handler.events.model import Person, StoredEvent
    from latentlens.handler.events.sqlite_store import SQLiteEventStore

    rng = random.Random(seed)
    start = since + timedelta(seconds=1)
    store = SQLiteEventStore(str(path))
    batch: list[StoredEvent] = []
    count = 0

    def add(person: Person, kind: str, i: int) -> None:
        nonlocal count
        stars = rng.randint(1, 10) / 2 if kind == "rating" else None
        batch.append(StoredEvent(event_id=f"b{count}", person=person, movie_id=rng.choice(movies), type=kind,
                                 rating=stars, recommendation_id=None, at=start + timedelta(seconds=i)))
        count += 1
        if len(batch) == 1000:
            store.put(list(batch))
            batch.clear()

    for user in users:
        for i in range(per_user):
            add(Person(user_id=user), "rating", i)
    for i in range(noise):
        add(Person(session_id=f"noise-{i % 5000}"), rng.choice(("impression", "click", "rating")), i % 3000)
    if batch:
        store.put(batch)
    store.close()
    return count


def entry(db: str, tmp: str, events: str | None):
    from latentlens.handler.app import create_app
    from latentlens.handler.lambda_entry import LambdaEntry
    from latentlens.handler.settings import Settings

    return LambdaEntry(create_app(Settings(db=db, tmp_dir=tmp, events=events)))


def timed(handler, requests: list[dict]) -> dict[str, float]:
    times = []
    cpu = time.process_time()
    for event in requests:
        t = time.perf_counter()
        response = handler(event, None)
        times.append(time.perf_counter() - t)
        assert response["statusCode"] == 200, response
    cpu = time.process_time() - cpu
    times.sort()

    def pick(q: float) -> float:
        return times[min(len(times) - 1, int(q * len(times)))] * 1e3

    return {"p50_ms": pick(0.50), "p90_ms": pick(0.90), "p99_ms": pick(0.99), "max_ms": times[-1] * 1e3,
            "mean_ms": statistics.fmean(times) * 1e3, "cpu_s": cpu}


def report(name: str, runs: list[dict[str, float]]) -> None:
    print(f"\n{name}")
    print(f"  {'run':>4} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'CPU s':>7}")
    for i, r in enumerate(runs, 1):
        print(f"  {i:>4} {r['p50_ms']:8.3f} {r['p90_ms']:8.3f} {r['p99_ms']:8.3f} {r['max_ms']:8.2f} {r['cpu_s']:7.2f}")
    for key in ("p50_ms", "p99_ms"):
        values = [r[key] for r in runs]
        print(f"  {key} range over {len(runs)} runs: {min(values):.3f} .. {max(values):.3f} ms")


def arguments(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", help="artifact path (with its .sha256 manifest beside it)")
    p.add_argument("--synthetic", type=Path, help="build (if absent) and use an ML-25M-shaped artifact here")
    p.add_argument("--users", type=int, default=2000, help="users with events")
    p.add_argument("--events", type=int, default=50, help="rating events per user (the fold reads the latest 50)")
    p.add_argument("--noise", type=int, default=200_000, help="other people's events in the store")
    p.add_argument("--requests", type=int, default=5000, help="requests per run")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.synthetic:
        if not args.synthetic.exists():
            t = time.perf_counter()
            synthetic(args.synthetic)
            print(f"built {args.synthetic} in {time.perf_counter() - t:.1f} s")
        args.db = str(args.synthetic)
    if not args.db:
        p.error("give --db or --synthetic")
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    import duckdb

    db = os.path.abspath(args.db)
    rng = random.Random(args.seed)
    everyone = user_ids(db)
    users = rng.sample(everyone, min(args.users, len(everyone)))
    with duckdb.connect(db, read_only=True) as con:
        movies = [r[0] for r in con.execute("SELECT movie_id FROM movies").fetchall()]
        created = con.execute("SELECT value FROM build_info WHERE key = 'created_at'").fetchone()
    since = datetime.fromisoformat(created[0]) if created else datetime.now(UTC) - timedelta(hours=1)
    work = Path(tempfile.mkdtemp(prefix="latentlens-bench-lists-"))
    store = work / "events.sqlite"
    t = time.perf_counter()
    stored = fill_store(store, users, args.events, args.noise, movies, since, args.seed)
    print(f"artifact  {db}  ({os.path.getsize(db) / 1e6:.1f} MB, {len(movies)} movies)")
    print(f"store     {store}: {stored:,} events ({len(users)} users x {args.events} ratings, {args.noise:,} other), "
          f"{os.path.getsize(store) / 1e6:.1f} MB, written in {time.perf_counter() - t:.1f} s")
    print(f"machine   {platform.python_implementation()} {platform.python_version()}, duckdb {duckdb.__version__}, "
          f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    folding, plain = entry(db, str(work / "tmp"), str(store)), entry(db, str(work / "tmp"), None)
    warmup = [make_event(f"/users/{u}/recommendations") for u in users]
    first = timed(folding, warmup)  # each user's first list: the fold's movie lists not read yet (list_cache)
    for event in warmup:
        assert plain(event, None)["statusCode"] == 200
    print(f"first request per user (lists read from the artifact as they come): p50 {first['p50_ms']:.2f} ms, "
          f"p99 {first['p99_ms']:.2f} ms over {len(warmup)} requests")
    import json

    body = json.loads(folding(warmup[0], None)["body"])
    assert body["source"] == "personal+events", body["source"]  # the events are really folded in
    with_events: list[dict[str, float]] = []
    without: list[dict[str, float]] = []
    for _ in range(args.runs):
        chosen = [make_event(f"/users/{rng.choice(users)}/recommendations") for _i in range(args.requests)]
        with_events.append(timed(folding, chosen))
        without.append(timed(plain, chosen))
    report(f"with events: GET /users/{{id}}/recommendations, {args.requests} requests per run, "
           f"{args.events} rating events per user in SQLite", with_events)
    report("baseline: the same requests, no event store (the stored list alone)", without)
    worst = max(r["p99_ms"] for r in with_events)
    print(f"\nwarm p99 with events, worst run: {worst:.2f} ms (target <= 10 ms): {'met' if worst <= 10 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
