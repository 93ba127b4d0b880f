"""DynamoDB mode against DuckDB mode: publish throughput, item sizes, warm handler latency.

    python bench/bench_dynamodb.py --db artifacts/latentlens.duckdb            # publish + both modes' latency
    python bench/bench_dynamodb.py --sizes-only --synthetic 162541 62423      # ML-25M-shaped item sizes, no writes

Everything runs against moto's server on 127.0.0.1, so latency figures are *relative*: moto is a
Python process on the same (shared) machine, a few ms per call, where DynamoDB's documented
figure is single-digit milliseconds per GetItem at any scale (AWS: "single-digit millisecond
performance at any scale"; DAX, its cache, "from milliseconds to microseconds"). Warm latency is
`handler(event, context)` through Mangum with API Gateway v2 events, as bench/bench_handler.py.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import docs_results

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

NAME = "latentlens-bench"


def sizes_only(db: Path, tmp: Path) -> None:
    """Encode every item as the publisher would, without writing: sizes at a scale moto cannot hold quickly."""
    from latentlens.build.publish.dynamodb import _Items
    from latentlens.build.publish.source import open_source

    source = open_source(db, tmp)
    t0 = time.perf_counter()
    items = _Items(source.artifact, sample=0)
    n = sum(1 for _ in items)
    dt = time.perf_counter() - t0
    print(f"{db}: {n:,} items encoded in {dt:.1f} s ({n / dt:,.0f} items/s, one core)")
    for kind, stats in items.sizes.items():
        s = stats.summary()
        if s.get("items"):
            print(f"  {kind:<9} {s['items']:>9,} items  bytes mean {s['mean']:>7,}  p50 {s['p50']:>7,}  "
                  f"p99 {s['p99']:>7,}  max {s['max']:>7,}")


def percentiles(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return statistics.median(s) * 1000, s[min(len(s) - 1, int(len(s) * 0.99))] * 1000


def warm(app_db: str, tmp: Path, paths: list[tuple[str, str]], endpoint: str | None) -> dict[str, list[float]]:
    from bench_handler import make_event
    from mangum import Mangum

    from latentlens.handler.app import create_app
    from latentlens.handler.settings import Settings

    settings = Settings(db=app_db, tmp_dir=str(tmp), dynamodb_endpoint_url=endpoint, dynamodb_region="us-east-1")
    app = create_app(settings)
    handler = Mangum(app, lifespan="off")
    assert handler(make_event("/health"), None)["statusCode"] == 200
    times: dict[str, list[float]] = {}
    for kind, path in paths:
        event = make_event(path)
        t0 = time.perf_counter()
        r = handler(event, None)
        times.setdefault(kind, []).append(time.perf_counter() - t0)
        assert r["statusCode"] in (200, 404), (path, r["statusCode"], r["body"][:200])
    app.state.store.close()
    return times


def request_mix(db: Path, count: int, seed: int) -> list[tuple[str, str]]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    users = [r[0] for r in con.execute("SELECT DISTINCT user_id FROM user_recommendations").fetchall()]
    movies = [r[0] for r in con.execute("SELECT movie_id FROM movies ORDER BY n_ratings DESC LIMIT 2000").fetchall()]
    con.close()
    rng = random.Random(seed)
    mix = []
    for i in range(count):
        k = i % 4
        if k == 0:
            mix.append(("user", f"/users/{rng.choice(users)}/recommendations?n=20"))
        elif k == 1:
            mix.append(("movie", f"/movies/{rng.choice(movies)}"))
        elif k == 2:
            mix.append(("similar", f"/movies/{rng.choice(movies)}/similar?n=20"))
        else:
            liked = ",".join(str(rng.choice(movies)) for _ in range(3))
            mix.append(("liked", f"/recommendations?liked={liked}&n=20"))
    return mix


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", type=Path, default=REPO / "artifacts" / "latentlens.duckdb")
    p.add_argument("--synthetic", nargs=2, type=int, metavar=("USERS", "MOVIES"),
                   help="first build an artifact of this shape "
                        "(bench_handler.build_synthetic: 100 recs, 50 neighbours)")
    p.add_argument("--sizes-only", action="store_true", help="item sizes only, no moto, no writes")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="latentlens-bench-ddb-"))
    db = a.db
    if a.synthetic:
        from bench_handler import build_synthetic

        db = tmp / "synthetic.duckdb"
        t0 = time.perf_counter()
        build_synthetic(db, *a.synthetic)
        print(f"built {db} ({a.synthetic[0]:,} users x 100, {a.synthetic[1]:,} movies x 50) "
              f"in {time.perf_counter() - t0:.0f} s")
    if a.sizes_only:
        sizes_only(db, tmp / "duckdb")
        return 0

    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    from latentlens.build.publish.dynamodb import PublishSettings, publish

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        result = publish(PublishSettings(source=db, name=NAME, workers=a.workers, tmp_dir=tmp / "duckdb",
                                         progress=False), client=client)
        print(result.summary_text())
        print(f"publish total {result.seconds:.1f} s: writes {result.write_seconds:.1f} s "
              f"({result.items / result.write_seconds:,.0f} items/s with {a.workers} writer threads), "
              f"verify + flip {result.seconds - result.write_seconds:.1f} s")
        mix = request_mix(db, a.requests, a.seed)
        duck = warm(str(db), tmp / "duckdb", mix, None)
        dyn = warm(f"dynamodb://{NAME}", tmp / "dynamodb", mix, endpoint)
    finally:
        server.stop()
    print(f"\nwarm handler latency, {a.requests:,} requests (ms; moto server on 127.0.0.1, shared machine)")
    print(f"  {'endpoint':<8} {'duckdb p50':>10} {'p99':>7}   {'dynamodb p50':>12} {'p99':>7}   {'p50 ratio':>9}")
    for kind in duck:
        d50, d99 = percentiles(duck[kind])
        y50, y99 = percentiles(dyn[kind])
        print(f"  {kind:<8} {d50:>10.2f} {d99:>7.2f}   {y50:>12.2f} {y99:>7.2f}   {y50 / d50:>8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
