"""Loopback load benchmark of `latentlens serve`: requests/s and latency percentiles at concurrency 16.

    python bench/load_serve.py                                  # artifacts/latentlens.duckdb (`make build`)
    python bench/load_serve.py --db other.duckdb --requests 20000 --processes 2

The server is `python -m latentlens serve` (--workers uvicorn workers, default 1) on a
free 127.0.0.1 port; the load comes from separate processes (`--processes`, each running
concurrency/processes threads with one keep-alive connection per thread), so the client does not
share the server's interpreter. A fixed
number of requests, capped by --max-seconds. The serving target: >= 500 req/s and p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import docs_results

REPO = Path(__file__).resolve().parents[1]

# (path, expected status); user and movie ids are filled from the artifact when it is not the fixture
MIX = [
    ("/users/{user}/recommendations?n=10", 200),
    ("/users/999999999/recommendations?genre=Comedy&n=10", 200),
    ("/movies/{movie}", 200),
    ("/movies/{movie}/similar?n=10", 200),
    ("/movies?search=the%20godfather&limit=5", 200),
    ("/recommendations?liked={movie},{movie2}&n=10", 200),
    ("/popular?genre=Drama&n=10", 200),
    ("/health", 200),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sample_ids(db: str) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        user = con.execute("SELECT min(user_id) FROM user_recommendations").fetchone()[0]
        movies = [r[0] for r in con.execute(
            "SELECT movie_id FROM similar_movies GROUP BY movie_id ORDER BY count(*) DESC, movie_id LIMIT 2"
        ).fetchall()]
    finally:
        con.close()
    return {"user": user, "movie": movies[0], "movie2": movies[-1]}


def worker(port: int, paths: list[tuple[str, int]], count: int, threads: int, deadline: float, out) -> None:
    """One load-generating process: `threads` threads share `count` requests; sends back latencies and errors."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    next_index = iter(range(count))

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine, bad = [], []
        while time.time() < deadline:
            with lock:
                i = next(next_index, None)
            if i is None:
                break
            path, expected = paths[i % len(paths)]
            t = time.perf_counter()
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                mine.append(time.perf_counter() - t)
                if r.status != expected:
                    bad.append(f"{path}: {r.status}")
            except (OSError, http.client.HTTPException) as exc:
                bad.append(f"{path}: {type(exc).__name__}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.send((latencies, errors))
    out.close()


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"/health not 200 within {timeout} s")


def load(port: int, paths, requests: int, concurrency: int, processes: int, max_seconds: float) -> dict:
    ctx = mp.get_context("spawn")
    deadline = time.time() + max_seconds
    per_proc = [requests // processes + (1 if i < requests % processes else 0) for i in range(processes)]
    threads = [concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)]
    pipes, procs = [], []
    started = time.perf_counter()
    for n, t in zip(per_proc, threads, strict=True):
        recv, send = ctx.Pipe(duplex=False)
        p = ctx.Process(target=worker, args=(port, paths, n, t, deadline, send))
        p.start()
        send.close()
        pipes.append(recv)
        procs.append(p)
    latencies: list[float] = []
    errors: list[str] = []
    for recv in pipes:
        lat, err = recv.recv()
        latencies += lat
        errors += err
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - started  # includes the load processes' start-up: a conservative rate
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    return {"requests": len(latencies), "errors": len(errors), "error_examples": errors[:5],
            "seconds": round(elapsed, 2), "req_per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": round(pct(0.50), 2), "p90_ms": round(pct(0.90), 2), "p99_ms": round(pct(0.99), 2),
            "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
            "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else None}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of the server")
    p.add_argument("--db", default=str(REPO / "artifacts/latentlens.duckdb"),
                   help="artifact to serve (`make build` writes the default)")
    p.add_argument("--requests", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--processes", type=int, default=2, help="load-generating processes")
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--max-seconds", type=float, default=120)
    args = p.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="load-serve-"))
    if not Path(args.db).is_file():
        sys.exit(f"{args.db}: no artifact (build one with `make build`, or pass --db)")
    db = str(Path(args.db).resolve())
    ids = sample_ids(db)
    paths = [(path.format(**ids), status) for path, status in MIX]

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "LATENTLENS_TMP_DIR": str(scratch / "lltmp")}
    server = subprocess.Popen([sys.executable, "-m", "latentlens", "serve", "--db", db, "--port", str(port),
                               "--workers", str(args.workers)],
                              cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(port, server)
        warm = load(port, paths, args.warmup, args.concurrency, 1, args.max_seconds)
        rss_before = rss_mb(server.pid)
        result = load(port, paths, args.requests, args.concurrency, args.processes, args.max_seconds)
        rss_after = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=15)
    result.update(db=db, concurrency=args.concurrency, processes=args.processes, warmup_errors=warm["errors"],
                  server_rss_mb_before=round(rss_before, 1), server_rss_mb_after=round(rss_after, 1),
                  cpus=os.cpu_count(), loadavg_1m=round(os.getloadavg()[0], 2))
    target = result["req_per_s"] >= 500 and result["p99_ms"] < 20 and result["errors"] == 0
    print(json.dumps(result, indent=2))
    print(f"{result['req_per_s']} req/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
          f"{result['errors']} errors over {result['requests']} requests; target "
          f"(>= 500 req/s, p99 < 20 ms): {'met' if target else 'NOT met'}")
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
