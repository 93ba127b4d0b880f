"""Spark engine vs in-process engine, side by side: wall, peak RSS of the whole process tree
(driver + JVM + Python workers), CPU seconds of that tree, NDCG@10 of each engine's models and RMSE
of its rating models, and the Spark/in-process ratios per data set.

    python bench/bench_spark.py DATA... [--engines inprocess,spark] [--master local[2]] [--timeout 3600]
                                [--quick] [--json] [-- EXTRA BUILD ARGS]

DATA is a MovieLens directory or a synth preset (1m, 5m, ...; generated under /tmp by
bench_build.resolve_data when missing). Each build is its own `latentlens build` child with
--out and --mlflow-uri in a temporary directory. Peak RSS sums VmRSS over the child and all
its descendants, polled every 0.5 s (in local mode the executors live in the one JVM; the
Python workers of mapInArrow are descendants too); CPU seconds add each process's last polled
utime + stime (on a shared machine the CPU figure is steadier than the wall). Metrics come from the artifact's
model_metrics table, the same numbers the build logged to MLflow. The in-process engine runs
all its models; the Spark engine its three (popularity, ALS explicit, ALS implicit).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import docs_results

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_build import child_env, latentlens_bin, resolve_data

TICKS = os.sysconf("SC_CLK_TCK")


def tree_rss_mb(root: int, cpu: dict[int, float] | None = None) -> float:
    """VmRSS of `root` and every descendant, from /proc (children found through PPid); with `cpu`,
    also each tree process's utime + stime in seconds, written into it by pid."""
    parents: dict[int, int] = {}
    rss: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
            parents[int(entry)] = int(fields["PPid"].strip())
            rss[int(entry)] = int(fields.get("VmRSS", "0 kB").split()[0]) / 1024
        except (OSError, KeyError, ValueError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    if cpu is not None:
        for pid in tree:
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    stat = fh.read().rsplit(")", 1)[1].split()
                cpu[pid] = (int(stat[11]) + int(stat[12])) / TICKS
            except (OSError, IndexError, ValueError):
                continue
    return sum(rss.get(p, 0.0) for p in tree)


def run(data: Path, engine: str, master: str, quick: bool, extra: list[str], timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        out = Path(tmp) / "latentlens.duckdb"
        cmd = [str(latentlens_bin()), "build", "--data", str(data), "--out", str(out),
               "--mlflow-uri", f"sqlite:///{Path(tmp) / 'mlflow.db'}", "--no-register", "--engine", engine, *extra]
        if engine == "spark":
            cmd += ["--spark-master", master]
        if quick:
            cmd.append("--quick")
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        peak = [0.0]
        cpu: dict[int, float] = {}
        tail: list[str] = []

        def poll() -> None:
            while proc.poll() is None:
                peak[0] = max(peak[0], tree_rss_mb(proc.pid, cpu))
                time.sleep(0.5)

        def read() -> None:
            for line in proc.stderr:
                tail.append(line)
                del tail[:-40]

        threads = [threading.Thread(target=poll, daemon=True), threading.Thread(target=read, daemon=True)]
        for t in threads:
            t.start()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            code = proc.wait()
        wall = time.perf_counter() - started
        for t in threads:
            t.join(timeout=5)
        row = {"data": data.name, "engine": engine, "exit": code, "wall_s": round(wall, 1),
               "cpu_s": round(sum(cpu.values()), 1), "peak_rss_mb": round(peak[0]),
               "load_avg": round(os.getloadavg()[0], 1)}
        if code != 0:
            row["error"] = "".join(tail[-8:])
            return row
        import duckdb

        con = duckdb.connect(str(out), read_only=True)
        metrics = con.execute("SELECT model, metric, value FROM model_metrics WHERE metric IN ('ndcg_at_10', 'rmse')"
                              ).fetchall()
        info = dict(con.execute("SELECT key, value FROM build_info").fetchall())
        con.close()
        row["ndcg_at_10"] = {m: round(v, 4) for m, k, v in metrics if k == "ndcg_at_10"}
        row["rmse"] = {m: round(v, 4) for m, k, v in metrics if k == "rmse"}
        row["topn_champion"] = info.get("topn_champion")
        row["n_ratings"] = int(info["n_ratings"])
        return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="+")
    p.add_argument("--engines", default="inprocess,spark")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", action="store_true")
    args, extra = p.parse_known_args()
    extra = [a for a in extra if a != "--"]
    rows = []
    for item in args.data:
        data = resolve_data(item)
        for engine in args.engines.split(","):
            print(f"{data.name}: {engine} ...", file=sys.stderr, flush=True)
            row = run(data, engine, args.master, args.quick, extra, args.timeout)
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'data':<18} {'engine':<10} {'ratings':>10} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}  "
          "champion / NDCG@10 / RMSE")
    for r in rows:
        if r["exit"] != 0:
            print(f"{r['data']:<18} {r['engine']:<10} {'':>10} {r['wall_s']:>8} {r['cpu_s']:>8} "
                  f"{r['peak_rss_mb']:>12}  failed ({r['exit']})")
            continue
        best_rmse = min(r["rmse"].values()) if r["rmse"] else float("nan")
        print(f"{r['data']:<18} {r['engine']:<10} {r['n_ratings']:>10} {r['wall_s']:>8} {r['cpu_s']:>8} "
              f"{r['peak_rss_mb']:>12}  "
              f"{r['topn_champion']} {r['ndcg_at_10'].get(r['topn_champion'], float('nan')):.4f} / "
              f"best RMSE {best_rmse:.4f}")
        print(f"{'':<30} NDCG@10 {r['ndcg_at_10']}  RMSE {r['rmse']}  (load avg at end {r['load_avg']})")
    for name in dict.fromkeys(r["data"] for r in rows):
        pair = {r["engine"]: r for r in rows if r["data"] == name and r["exit"] == 0}
        if {"spark", "inprocess"} <= set(pair):
            s, i = pair["spark"], pair["inprocess"]
            print(f"{name}: Spark / in-process: wall {s['wall_s'] / i['wall_s']:.1f}x, "
                  f"CPU {s['cpu_s'] / i['cpu_s']:.1f}x, peak RSS {s['peak_rss_mb'] / i['peak_rss_mb']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
