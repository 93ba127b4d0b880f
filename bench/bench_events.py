"""Events in, measured: events/s accepted by `latentlens serve --events FILE`, and none lost to a kill -9.

    python bench/bench_events.py                       # artifacts/latentlens.duckdb, or the tests' small artifact
    python bench/bench_events.py --events-per-round 20000 --rounds 3 --workers 1
    python bench/bench_events.py --docs events          # also write docs/results/events.md

Throughput: one event per request (`POST /events`, a JSON object), 8 concurrent writers (threads spread over
`--processes` client processes, one keep-alive connection each), against `latentlens serve --events FILE` on a
free 127.0.0.1 port; `--rounds` rounds, each on a fresh store file, so the spread of a noisy machine shows. Each
round prints events/s acknowledged (202), latency percentiles, and CPU-seconds beside wall: the server's (all its
processes) and the clients'. Every acknowledged event is then counted in the file.

Kill -9: the same writers against a fresh server; once `--kill-after` events are acknowledged, SIGKILL goes to
every process of the server while the writers are still posting. The server is started again on the same file,
and the file must hold every event acknowledged before the kill (count in = count stored; it may hold more: events
stored whose 202 the kill cut off).

The artifact only serves the movie-id check (one lookup per event, kept in memory), so any build gives the same
figures; without `--db` and without artifacts/latentlens.duckdb a small synthetic artifact is made
(bench_handler.build_synthetic: 1,000 users, 2,000 movies). Target: >= 1,000 events/s, 0 lost.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import docs_results
from load_serve import free_port, wait_healthy

REPO = Path(__file__).resolve().parents[1]
WRITERS = 8
TARGET_EVENTS_PER_S = 1000


def artifact(db: str | None, scratch: Path) -> str:
    if db:
        if not Path(db).is_file():
            sys.exit(f"{db}: no artifact")
        return str(Path(db).resolve())
    built = REPO / "artifacts" / "latentlens.duckdb"
    if built.is_file():
        return str(built)
    from bench_handler import build_synthetic  # a small artifact of the build's schema, made in a second

    synthetic = scratch / "synthetic.duckdb"
    build_synthetic(synthetic, users=1000, movies=2000)
    return str(synthetic)


def movie_ids(db: str) -> list[int]:
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        return [row[0] for row in con.execute("SELECT movie_id FROM movies ORDER BY movie_id LIMIT 200").fetchall()]
    finally:
        con.close()


class Server:
    """`python -m latentlens serve --events FILE` on a free port; its processes' CPU-seconds from /proc."""

    def __init__(self, db: str, events: Path, workers: int, scratch: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(REPO), "LATENTLENS_TMP_DIR": str(scratch / "lltmp")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "latentlens", "serve", "--db", db, "--port", str(self.port), "--events",
             str(events), "--workers", str(workers)],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_healthy(self.port, self.proc)

    def pids(self) -> list[int]:
        """The server and its uvicorn workers (children, recursively)."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                todo += [int(c) for c in task.read_text().split()]
        return found

    def cpu_seconds(self) -> float:
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        return total

    def kill(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=15)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)


def writer(port: int, tag: str, threads: int, count: int | None, movies: list[int], acked_total, out) -> None:
    """One client process: `threads` writers, each posting one event per request until its share of `count` is
    sent (None: until the server is gone). Sends back (latencies, acknowledged ids, errors, CPU-seconds)."""
    latencies: list[float] = []
    acked: list[str] = []
    errors: list[str] = []
    window = [float("inf"), 0.0]  # the first request's start, the last answer's end (time.time: across processes)
    lock = threading.Lock()

    def run(thread: int, share: int | None) -> None:
        first = time.time()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine_lat, mine_ack, bad = [], [], []
        n = 0
        while share is None or n < share:
            event_id = f"{tag}-{thread}-{n}"
            body = json.dumps({"session_id": f"bench-{tag}-{thread}", "movie_id": movies[n % len(movies)],
                               "type": "click", "event_id": event_id})
            t = time.perf_counter()
            try:
                conn.request("POST", "/events", body=body, headers={"content-type": "application/json"})
                r = conn.getresponse()
                r.read()
            except (OSError, http.client.HTTPException) as exc:
                if share is None:
                    break  # the server was killed
                bad.append(type(exc).__name__)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                n += 1
                continue
            mine_lat.append(time.perf_counter() - t)
            if r.status == 202:
                mine_ack.append(event_id)
                with acked_total.get_lock():
                    acked_total.value += 1
            else:
                bad.append(str(r.status))
            n += 1
        last = time.time()
        conn.close()
        with lock:
            latencies.extend(mine_lat)
            acked.extend(mine_ack)
            errors.extend(bad)
            window[0], window[1] = min(window[0], first), max(window[1], last)

    shares = [None] * threads if count is None else [count // threads + (i < count % threads) for i in range(threads)]
    pool = [threading.Thread(target=run, args=(i, shares[i])) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    usage = os.times()
    out.send((latencies, acked, errors, usage.user + usage.system, window))
    out.close()


class Load:
    """WRITERS threads over `processes` client processes, started now; `result()` waits for them."""

    def __init__(self, port: int, tag: str, count: int | None, processes: int, movies: list[int]) -> None:
        ctx = mp.get_context("spawn")
        self.acked_total = ctx.Value("q", 0)
        threads = [WRITERS // processes + (i < WRITERS % processes) for i in range(processes)]
        counts = [None] * processes if count is None else [count * t // WRITERS for t in threads]
        if count is not None:
            counts[0] += count - sum(counts)
        self.pipes, self.procs = [], []
        for i, (t, n) in enumerate(zip(threads, counts, strict=True)):
            recv, send = ctx.Pipe(duplex=False)
            p = ctx.Process(target=writer, args=(port, f"{tag}{i}", t, n, movies, self.acked_total, send))
            p.start()
            send.close()
            self.pipes.append(recv)
            self.procs.append(p)

    def result(self) -> dict:
        latencies: list[float] = []
        acked: list[str] = []
        errors: list[str] = []
        cpu = 0.0
        start, end = float("inf"), 0.0
        for recv in self.pipes:
            lat, ack, err, used, (first, last) = recv.recv()
            latencies += lat
            acked += ack
            errors += err
            cpu += used
            start, end = min(start, first), max(end, last)
        for p in self.procs:
            p.join()
        wall = end - start  # from the first request sent to the last answer, the clients' start-up left out
        latencies.sort()

        def pct(q: float) -> float:
            return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

        return {"acked": acked, "errors": errors, "wall": wall, "client_cpu": cpu, "p50": pct(0.5), "p99": pct(0.99),
                "mean": statistics.fmean(latencies) * 1000 if latencies else float("nan")}


def stored(path: Path) -> set[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return {row[0] for row in conn.execute("SELECT event_id FROM events")}


def throughput_round(db: str, scratch: Path, n: int, args: argparse.Namespace, movies: list[int]) -> dict:
    events = scratch / f"round-{n}.sqlite"
    server = Server(db, events, args.workers, scratch)
    try:
        Load(server.port, f"w{n}-", args.warmup, args.processes, movies).result()
        cpu0 = server.cpu_seconds()
        result = Load(server.port, f"r{n}-", args.events_per_round, args.processes, movies).result()
        result["server_cpu"] = server.cpu_seconds() - cpu0
    finally:
        server.stop()
    result["stored"] = len(stored(events) & set(result["acked"]))
    result["rate"] = len(result["acked"]) / result["wall"]
    return result


def kill_round(db: str, scratch: Path, args: argparse.Namespace, movies: list[int]) -> dict:
    events = scratch / "killed.sqlite"
    server = Server(db, events, args.workers, scratch)
    load = Load(server.port, "k-", None, args.processes, movies)
    deadline = time.monotonic() + 120
    while load.acked_total.value < args.kill_after and time.monotonic() < deadline:
        time.sleep(0.005)
    server.kill()
    result = load.result()
    restarted = Server(db, events, args.workers, scratch)  # opening the file recovers it (WAL replay)
    try:
        found = stored(events)
    finally:
        restarted.stop()
    acked = set(result["acked"])
    return {"acked": len(acked), "stored": len(found), "lost": len(acked - found), "extra": len(found - acked)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", default=None, help="artifact to serve (default: artifacts/latentlens.duckdb, else a "
                                              "small synthetic one)")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of the server")
    p.add_argument("--processes", type=int, default=2, help="client processes sharing the 8 writers")
    p.add_argument("--events-per-round", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=400)
    p.add_argument("--kill-after", type=int, default=3000, help="acknowledged events before the kill -9")
    args = p.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-events-"))
    try:
        return measure(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def measure(args: argparse.Namespace, scratch: Path) -> int:
    db = artifact(args.db, scratch)
    movies = movie_ids(db)
    print(f"latentlens serve --events FILE --workers {args.workers}; {WRITERS} writers over {args.processes} client "
          f"processes, one event per request; {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}")
    rates, failed = [], False
    print(f"{'round':>5} {'events':>7} {'errors':>6} {'stored':>7} {'wall s':>7} {'events/s':>9} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'server CPU s':>12} {'client CPU s':>12} {'server CPU ms/event':>19}")
    for n in range(1, args.rounds + 1):
        r = throughput_round(db, scratch, n, args, movies)
        rates.append(r["rate"])
        failed |= bool(r["errors"]) or r["stored"] != len(r["acked"])
        print(f"{n:>5} {len(r['acked']):>7} {len(r['errors']):>6} {r['stored']:>7} {r['wall']:>7.2f} "
              f"{r['rate']:>9,.0f} {r['p50']:>7.2f} {r['p99']:>7.2f} {r['server_cpu']:>12.2f} {r['client_cpu']:>12.2f} "
              f"{1000 * r['server_cpu'] / max(1, len(r['acked'])):>19.3f}")
    k = kill_round(db, scratch, args, movies)
    failed |= k["lost"] > 0
    print(f"events/s accepted: {min(rates):,.0f} to {max(rates):,.0f} over {len(rates)} rounds "
          f"(target >= {TARGET_EVENTS_PER_S:,}: {'met' if min(rates) >= TARGET_EVENTS_PER_S else 'NOT met'})")
    print(f"kill -9 after {args.kill_after:,} acknowledged: {k['acked']:,} acknowledged before the kill, "
          f"{k['stored']:,} in the store after the restart ({k['extra']} stored whose 202 the kill cut off), "
          f"{k['lost']} lost")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
