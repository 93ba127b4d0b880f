"""Latency of the Lambda entry: cold start in fresh interpreters, warm p50/p99 in-process.

    python bench/bench_handler.py --db artifacts/latentlens.duckdb
    python bench/bench_handler.py --synthetic /tmp/synth25m.duckdb   # builds an ML-25M-shaped artifact first
    python bench/bench_handler.py --db FILE --lambda-package /tmp/latentlens-lambda-package

Cold start = a fresh `python` doing import latentlens.handler.app + open (fingerprint or sha256, DuckDB, checks) +
first `handler(event, context)`; the median of several runs. "process start -> first response" is
the wall from spawning the interpreter until the child reports its answer: what a Lambda cold start
costs (Lambda keeps the process after it answers); "process wall" adds the interpreter's exit,
which tears down the object graph (~0.1-0.2 s here) and which no request waits for. The CPU rows:
the main thread's CPU in the import and in open + first response (time.thread_time: what a cold start
costs on a core of its own, which other jobs on the machine barely move, while the wall rows count the
waits for a core too), and the process's CPU from start to the first response (the sha256 thread's
included). By default the interpreter is this one, with the development environment's site-packages
(every build and test dependency, the editable install's import hook). `--lambda-package DIR` also
measures what Lambda runs: `python -I -S` with only DIR importable, DIR being
infra/lambda/requirements.txt installed with `pip --target` plus the handler (made on first use);
the kinds of run alternate, so all see the same machine. Warm = `handler(event, context)` with
API Gateway HTTP API (v2) events for random users, after one warm-up call.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docs_results

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

EVENT_TEMPLATE = REPO / "tests" / "events" / "http_api_v2.json"

COLD_SNIPPET = r"""
import time
t0, c0 = time.perf_counter(), time.thread_time()
import json, sys
if len(sys.argv) > 2:
    sys.path.insert(0, sys.argv[2])  # the Lambda package (python -I -S: nothing else is importable)
import latentlens.handler.app
t1, c1 = time.perf_counter(), time.thread_time()
event = json.loads(sys.argv[1])
r = latentlens.handler.app.handler(event, None)
t2, c2, p2 = time.perf_counter(), time.thread_time(), time.process_time()
assert r["statusCode"] == 200, r
print(json.dumps({"import_s": t1 - t0, "first_response_s": t2 - t1, "total_s": t2 - t0, "import_cpu_s": c1 - c0,
                  "first_response_cpu_s": c2 - c1, "answer_process_cpu_s": p2}), flush=True)
"""


def make_event(path: str) -> dict:
    """The SAM-generated HTTP API event, pointed at `path` (query string allowed)."""
    event = json.loads(EVENT_TEMPLATE.read_text())
    raw_path, _, query = path.partition("?")
    event.update(rawPath=raw_path, rawQueryString=query, body=None, isBase64Encoded=False,
                 headers={"accept": "application/json", "host": "bench.local"}, cookies=[])
    event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&")) if query else None
    event.pop("pathParameters", None)
    event["requestContext"]["http"].update(method="GET", path=raw_path)
    return event


def build_synthetic(path: Path, users: int, movies: int) -> None:
    """An artifact of ML-25M's shape (users x 100 recommendations, movies x 50 neighbours) and its manifest."""
    import duckdb

    from latentlens.handler import schema

    genres = ["Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
              "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    for ddl in schema.TABLE_DDL.values():
        con.execute(ddl)
    con.execute("INSERT INTO movies SELECT i, 'Movie ' || i || ' (' || (1950 + i % 70) || ')', 'Movie ' || i, "
                "1950 + i % 70, [?[1 + i % 18], ?[1 + (i * 7) % 18]], NULL, NULL, (hash(i) % 1000)::INT, 3.5, "
                "'movie ' || i || ' (' || (1950 + i % 70) || ')' FROM range(1, ? + 1) t(i)", [genres, genres, movies])
    # because: schema.BECAUSE_N rated movies per pick, as the build writes them (schema 2)
    con.execute("INSERT INTO user_recommendations SELECT u, r, 1 + (hash(u * 131 + r) % ?)::INT, 5.0 - r / 100.0, "
                "[{'movie_id': 1 + (hash(u * 7 + r + j) % ?)::INT, 'rating': (1 + (u + r + j) % 10) / 2.0} "
                "FOR j IN range(?)] "
                "FROM range(1, ? + 1) a(u), range(1, 101) b(r) ORDER BY u, r",
                [movies, movies, schema.BECAUSE_N, users])
    con.execute("INSERT INTO similar_movies SELECT m, r, 1 + (hash(m * 17 + r) % ?)::INT, 1.0 - r / 100.0, 'synthetic' "
                "FROM range(1, ? + 1) a(m), range(1, 51) b(r) ORDER BY m, r", [movies, movies])
    con.execute("INSERT INTO popular_movies SELECT NULL, r, r, 1000 - r FROM range(1, 101) t(r)")
    con.execute("INSERT INTO popular_movies SELECT g, r, 1 + (r * 37 + hash(g)) % ?, 1000 - r "
                "FROM unnest(?::VARCHAR[]) t(g), range(1, 101) b(r) ORDER BY g, r", [movies, genres])
    info = {"schema_version": str(schema.SCHEMA_VERSION), "dataset_name": "synthetic-ml-25m-shape",
            "dataset_sha256": "0" * 64, "n_users": str(users), "n_movies": str(movies), "n_ratings": "25000095",
            "topn_champion": "synthetic", "rating_champion": "synthetic", "mlflow_run_id": "none",
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "package_version": "bench"}
    con.executemany("INSERT INTO build_info VALUES (?, ?)", sorted(info.items()))
    con.close()
    os.replace(tmp, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    Path(schema.manifest_path(str(path))).write_text(schema.manifest_text(digest, path.name,
                                                                          schema.fingerprint_file(path)))


def user_ids(db: str) -> list[int]:
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT DISTINCT user_id FROM user_recommendations").fetchall()]
    finally:
        con.close()


def lambda_package(target: Path) -> Path:
    """The Lambda package's import tree: its pinned requirements (`pip --target`, installed once; delete
    DIR to reinstall) and this checkout's handler, copied afresh on every run with symlinks resolved,
    as `sam build` copies them."""
    if not (target / "fastapi").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                        "-r", str(REPO / "infra" / "lambda" / "requirements.txt")], check=True)
    shutil.rmtree(target / "latentlens", ignore_errors=True)
    shutil.copytree(REPO / "infra" / "lambda" / "latentlens", target / "latentlens", symlinks=False,
                    ignore=shutil.ignore_patterns("__pycache__"))
    return target


def cold_start(db: str, user: int, runs: int, package: Path | None = None) -> dict[str, dict[str, float]]:
    """Median over `runs` fresh interpreters, each with its own empty tmp dir; with `package`, runs
    in the Lambda package (python -I -S), with the full sha256 before the first answer and with the quick
    verify template.yaml sets (LATENTLENS_QUICK_VERIFY), alternate with runs in this environment."""
    kinds: dict[str, tuple[Path | None, dict[str, str]]] = {"this environment": (None, {})}
    if package:
        kinds["Lambda package (-I -S), full sha256 first"] = (package, {"LATENTLENS_QUICK_VERIFY": "false"})
        kinds["Lambda package (-I -S), quick verify (template.yaml)"] = (package, {"LATENTLENS_QUICK_VERIFY": "true"})
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    event = json.dumps(make_event(f"/users/{user}/recommendations"))
    for _ in range(runs):
        for kind, (pkg, extra) in kinds.items():
            results[kind].append(_one_cold_start(db, event, pkg, extra))
    return {kind: {k: statistics.median(r[k] for r in rows) for k in rows[0]} for kind, rows in results.items()}


def _one_cold_start(db: str, event: str, pkg: Path | None, extra: dict[str, str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "LATENTLENS_DB": db, "LATENTLENS_TMP_DIR": tmp, "PYTHONPATH": str(REPO), **extra}
        command = ([sys.executable, "-c", COLD_SNIPPET, event] if pkg is None
                   else [sys.executable, "-I", "-S", "-c", COLD_SNIPPET, event, str(pkg)])
        before = os.times()
        start = time.perf_counter()
        with subprocess.Popen(command, env=env, cwd=REPO if pkg is None else tmp, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) as child:
            line = child.stdout.readline()  # printed right after the first response
            answered = time.perf_counter() - start
            _, err = child.communicate()
            wall = time.perf_counter() - start
        after = os.times()
    if child.returncode != 0 or not line.strip():
        raise RuntimeError(f"cold start run failed ({child.returncode}): {err[-2000:]}")
    row = json.loads(line)
    row["start_to_answer_s"] = answered
    row["process_wall_s"] = wall
    row["process_cpu_s"] = ((after.children_user - before.children_user)
                            + (after.children_system - before.children_system))
    return row


def warm(db: str, users: list[int], requests: int, seed: int) -> dict[str, float]:
    os.environ["LATENTLENS_DB"] = db
    os.environ.setdefault("LATENTLENS_TMP_DIR", tempfile.mkdtemp(prefix="latentlens-bench-"))
    import latentlens.handler.app

    rng = random.Random(seed)
    chosen = [rng.choice(users) for _ in range(requests)]
    events = [make_event(f"/users/{u}/recommendations") for u in chosen]
    assert latentlens.handler.app.handler(events[0], None)["statusCode"] == 200  # opens the artifact
    times = []
    for event in events:
        t = time.perf_counter()
        response = latentlens.handler.app.handler(event, None)
        times.append(time.perf_counter() - t)
        assert response["statusCode"] == 200
    times.sort()
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1e3  # noqa: E731 -- percentiles picked below
    return {"p50_ms": pick(0.50), "p90_ms": pick(0.90), "p99_ms": pick(0.99), "p99.9_ms": pick(0.999),
            "max_ms": times[-1] * 1e3, "mean_ms": statistics.fmean(times) * 1e3}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", help="artifact path (with its .sha256 manifest beside it)")
    p.add_argument("--synthetic", type=Path, help="build (if absent) and use an ML-25M-shaped artifact here")
    p.add_argument("--synthetic-users", type=int, default=162_541)
    p.add_argument("--synthetic-movies", type=int, default=62_423)
    p.add_argument("--requests", type=int, default=10_000)
    p.add_argument("--cold-runs", type=int, default=7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lambda-package", type=Path,
                   help="also time cold starts in this Lambda package dir (python -I -S), made first if missing")
    args = p.parse_args(argv)
    if args.synthetic:
        if not args.synthetic.exists():
            t = time.perf_counter()
            build_synthetic(args.synthetic, args.synthetic_users, args.synthetic_movies)
            print(f"built {args.synthetic} in {time.perf_counter() - t:.1f} s")
        args.db = str(args.synthetic)
    if not args.db:
        p.error("give --db or --synthetic")
    db = os.path.abspath(args.db)

    import duckdb

    users = user_ids(db)
    size_mb = os.path.getsize(db) / 1e6
    print(f"artifact  {db}  ({size_mb:.1f} MB, {len(users)} users)")
    print(f"machine   {platform.python_implementation()} {platform.python_version()}, duckdb {duckdb.__version__}, "
          f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    package = lambda_package(args.lambda_package.resolve()) if args.lambda_package else None
    colds = cold_start(db, users[0], args.cold_runs, package)
    hot = warm(db, users, args.requests, args.seed)

    for kind, cold in colds.items():
        print(f"\ncold start, {kind} (median of {args.cold_runs} fresh interpreters)")
        print(f"  {'import latentlens.handler.app':38s} {cold['import_s'] * 1e3:8.1f} ms")
        print(f"  {'open + verify + first response':38s} {cold['first_response_s'] * 1e3:8.1f} ms")
        print(f"  {'total in process':38s} {cold['total_s'] * 1e3:8.1f} ms")
        print(f"  {'process start -> first response':38s} {cold['start_to_answer_s'] * 1e3:8.1f} ms")
        print(f"  {'process wall (start to exit)':38s} {cold['process_wall_s'] * 1e3:8.1f} ms")
        print(f"  {'process CPU (start to exit)':38s} {cold['process_cpu_s'] * 1e3:8.1f} ms")
        print(f"  {'main thread CPU: import':38s} {cold['import_cpu_s'] * 1e3:8.1f} ms")
        print(f"  {'main thread CPU: open + first response':38s} {cold['first_response_cpu_s'] * 1e3:8.1f} ms")
        print(f"  {'process CPU, start -> first response':38s} {cold['answer_process_cpu_s'] * 1e3:8.1f} ms")
    print(f"\nwarm handler(event, context), {args.requests} random users, HTTP API v2 events")
    for key, value in hot.items():
        print(f"  {key:38s} {value:8.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
