"""Build benchmark: run `latentlens build` end to end per dataset size; wall, peak RSS, stage times.

    python bench/bench_build.py DATA... [--timeout 1800] [--models a,b] [--eval-users N]
                                [--cv-max-ratings N] [--folds K] [--quick] [--json] [-- EXTRA BUILD ARGS]

DATA is a MovieLens directory, or a synth preset name (1m, 5m, 10m, ml-25m, small) meaning
/tmp/latentlens-synth-<preset>, generated first (`latentlens data synth`) when missing.
Each build runs in its own child process (own session, --no-progress) with --out and
--mlflow-uri in a temporary directory that is removed afterwards. Measured per run:

- wall time, and the child's peak RSS from os.wait4 (ru_maxrss of that child alone; RSS of
  processes it spawned and waited for counts too) plus /proc VmRSS polled every 0.5 s, so each
  stage also gets the largest RSS seen while it ran;
- stage seconds from the build's log lines on stderr ("HH:MM:SS INFO message"), timed when the
  parent reads them (sub-second, no midnight wrap): load (start → "N users, M movies, R ratings;
  evaluating"), context (dataset summary, plots), eval <model> split into top-N (fit + ranking,
  up to "<model>: ndcg@10") and CV (the k folds), comparison, retrain <model>, export
  ("top-100 for" → "artifact ... written", i.e. top-N lists, similar lists, DuckDB write)
  and finish (MLflow closing, summary). The last retrain stage includes logging and
  registering the rating champion as an MLflow pyfunc, which has no log line of its own;
- the artifact size from "artifact ... written: X MB";
- the build's summary on stdout up to the artifact line: the comparison table (NDCG@10 of each
  top-N model, RMSE of each rating model) and both champions, printed under the stage table.

--timeout bounds each run: on expiry the child's process group gets SIGTERM (the CLI unwinds
like Ctrl-C), then SIGKILL after --grace seconds, and the row reports the last stage reached
and how long it had run: how far a size gets is a result too. A failed build prints the tail
of its stderr (the traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import docs_results

REPO = Path(__file__).resolve().parents[1]
PRESETS = {"small", "1m", "5m", "10m", "ml-10m", "ml-5m", "ml-1m", "25m", "ml-25m"}

LOG_LINE = re.compile(r"^(\d\d:\d\d:\d\d) (DEBUG|INFO|WARNING|ERROR|CRITICAL) (.*)$")
LOADED = re.compile(r"^\S.*: (\d+) users, (\d+) movies, (\d+) ratings; evaluating (\d+) models")
EVALUATING = re.compile(r"^evaluating (\S+)$")
NDCG = re.compile(r"^(\S+): ndcg@\d+=")
CHAMPIONS = re.compile(r"^champions: ")
RETRAINING = re.compile(r"^retraining (\S+) on all")
TOPN = re.compile(r"^top-\d+ for (\d+) users with (\S+)")
ARTIFACT = re.compile(r"^artifact .* written: ([\d.]+) MB")


@dataclass
class Stage:
    name: str
    start: float
    end: float | None = None
    peak_rss_mb: float = 0.0

    @property
    def seconds(self) -> float:
        return (self.end if self.end is not None else time.perf_counter()) - self.start


@dataclass
class RunResult:
    data: str
    ratings: int | None = None
    users: int | None = None
    movies: int | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0  # user + system of the build and the processes it waited for
    peak_rss_mb: float = 0.0
    artifact_mb: float | None = None
    returncode: int | None = None
    timed_out: bool = False
    last_stage: str = ""
    stages: list[dict] = field(default_factory=list)
    stderr_tail: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)  # the build's stdout: comparison table and champions

    @property
    def status(self) -> str:
        if self.timed_out:
            return f"TIMEOUT in {self.last_stage}"
        return "ok" if self.returncode == 0 else f"FAILED rc={self.returncode} in {self.last_stage}"


class StageClock:
    """Turns log messages into stage boundaries; thread-safe against the RSS poller."""

    def __init__(self, start: float) -> None:
        self.lock = threading.Lock()
        self.stages: list[Stage] = [Stage("load", start)]
        self.info: dict[str, float | int] = {}

    def begin(self, name: str, at: float) -> None:
        with self.lock:
            self.stages[-1].end = at
            self.stages.append(Stage(name, at))

    def rss(self, mb: float) -> None:
        with self.lock:
            self.stages[-1].peak_rss_mb = max(self.stages[-1].peak_rss_mb, mb)

    def close(self, at: float) -> None:
        with self.lock:
            if self.stages[-1].end is None:
                self.stages[-1].end = at

    def feed(self, message: str, at: float) -> None:
        if m := LOADED.match(message):
            self.info.update(users=int(m[1]), movies=int(m[2]), ratings=int(m[3]))
            self.begin("context", at)
        elif m := EVALUATING.match(message):
            self.begin(f"eval {m[1]} top-N", at)
        elif (m := NDCG.match(message)) and self.stages[-1].name == f"eval {m[1]} top-N":
            self.begin(f"eval {m[1]} CV", at)
        elif CHAMPIONS.match(message):
            self.begin("comparison", at)
        elif m := RETRAINING.match(message):
            self.begin(f"retrain {m[1]}", at)
        elif m := TOPN.match(message):
            self.begin("export", at)
        elif m := ARTIFACT.match(message):
            self.info["artifact_mb"] = float(m[1])
            self.begin("finish", at)


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def resolve_data(arg: str) -> Path:
    path = Path(arg)
    if path.is_dir() or arg not in PRESETS:
        return path
    preset = {"25m": "ml-25m"}.get(arg, arg)
    path = Path(f"/tmp/latentlens-synth-{preset.removeprefix('ml-') if preset != 'ml-25m' else '25m'}")
    if not (path / "ratings.csv").is_file():
        print(f"generating {path} (--preset {preset}) ...", file=sys.stderr, flush=True)
        t = time.perf_counter()
        subprocess.run([str(latentlens_bin()), "data", "synth", str(path), "--preset", preset, "--force",
                        "--no-progress"], check=True, env=child_env())
        print(f"generated {path} in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    return path


def latentlens_bin() -> Path:
    local = Path(sys.executable).parent / "latentlens"
    return local if local.exists() else REPO / ".venv" / "bin" / "latentlens"


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def run_build(data: Path, build_args: list[str], timeout: float, grace: float, echo: bool) -> RunResult:
    data = data.resolve()
    result = RunResult(data=str(data))
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        cmd = [str(latentlens_bin()), "build", "--data", str(data), "--out", f"{tmp}/latentlens.duckdb",
               "--mlflow-uri", f"sqlite:///{tmp}/mlflow.db", "--no-progress", *build_args]
        result.command = cmd
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=tmp, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, bufsize=1, start_new_session=True)
        clock = StageClock(start)
        tail: list[str] = []
        done = threading.Event()

        def read_stderr() -> None:
            for line in proc.stderr:
                at = time.perf_counter()
                line = line.rstrip("\n")
                tail.append(line)
                del tail[:-40]
                if echo:
                    print(f"  [{at - start:7.1f}s] {line}", file=sys.stderr, flush=True)
                if m := LOG_LINE.match(line):
                    clock.feed(m[3], at)

        def poll_rss() -> None:
            while not done.wait(0.5):
                if (mb := rss_mb(proc.pid)) is not None:
                    clock.rss(mb)

        summary: list[str] = []

        def read_stdout() -> None:
            summary.extend(line.rstrip("\n") for line in proc.stdout)

        readers = [threading.Thread(target=read_stderr, daemon=True), threading.Thread(target=poll_rss, daemon=True),
                   threading.Thread(target=read_stdout, daemon=True)]
        for t in readers:
            t.start()

        deadline = start + timeout
        status = rusage = None
        while status is None:
            pid, status_raw, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status, rusage = status_raw, usage
                break
            if time.perf_counter() > deadline and not result.timed_out:
                result.timed_out = True
                result.last_stage = clock.stages[-1].name
                _signal_group(proc.pid, signal.SIGTERM)
                deadline = time.perf_counter() + grace
            elif result.timed_out and time.perf_counter() > deadline:
                _signal_group(proc.pid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.2)
        end = time.perf_counter()
        done.set()
        proc.returncode = os.waitstatus_to_exitcode(status)
        _signal_group(proc.pid, signal.SIGKILL)  # strays left in the group, if any
        for t in readers:
            t.join(timeout=5)
        clock.close(end)

    result.wall_s = end - start
    result.cpu_s = rusage.ru_utime + rusage.ru_stime
    result.returncode = proc.returncode
    result.peak_rss_mb = max(rusage.ru_maxrss / 1024, max(s.peak_rss_mb for s in clock.stages))
    if not result.timed_out:
        result.last_stage = clock.stages[-1].name
    result.ratings = clock.info.get("ratings")
    result.users = clock.info.get("users")
    result.movies = clock.info.get("movies")
    result.artifact_mb = clock.info.get("artifact_mb")
    result.stages = [{"stage": s.name, "seconds": round(s.seconds, 2), "peak_rss_mb": round(s.peak_rss_mb)}
                     for s in clock.stages]
    result.summary = summary[: next((i for i, s in enumerate(summary) if s.startswith("artifact:")), len(summary))]
    if result.returncode != 0:
        result.stderr_tail = tail[-25:]
    if result.ratings is None:
        result.ratings = _count_ratings(data)
    return result


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _count_ratings(data: Path) -> int | None:
    path = data / "ratings.csv"
    if not path.is_file():
        return None
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b"")) - 1


def print_report(results: list[RunResult], top: int) -> None:
    head = ["ratings", "wall s", "CPU s", "peak GB", "artifact MB", "status", f"slowest {top} stages (s)"]
    rows = []
    for r in results:
        slow = sorted(r.stages, key=lambda s: -s["seconds"])[:top]
        rows.append([f"{r.ratings:,}" if r.ratings else "?", f"{r.wall_s:,.0f}", f"{r.cpu_s:,.0f}",
                     f"{r.peak_rss_mb / 1024:.2f}",
                     f"{r.artifact_mb:.1f}" if r.artifact_mb is not None else "-", r.status,
                     ", ".join(f"{s['stage']} {s['seconds']:.0f}" for s in slow)])
    _table(head, rows)
    for r in results:
        print(f"\n{r.data}: {r.users or '?'} users, {r.movies or '?'} movies, {r.ratings or '?'} ratings; {r.status}")
        print("  " + " ".join(r.command[2:]))
        _table(["stage", "seconds", "share", "peak RSS MB"],
               [[s["stage"], f"{s['seconds']:.1f}", f"{100 * s['seconds'] / max(r.wall_s, 1e-9):.0f}%",
                 f"{s['peak_rss_mb']:,}" if s["peak_rss_mb"] else "-"] for s in r.stages], indent="  ")
        if r.summary:  # the build's comparison table (NDCG@10, RMSE per model) and its champions
            print()
            for line in r.summary:
                print(f"  {line}")
        if r.stderr_tail:
            print("  stderr tail:")
            for line in r.stderr_tail:
                print(f"    {line}")


def _table(head: list[str], rows: list[list[str]], indent: str = "") -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    for row in [head, ["-" * w for w in widths], *rows]:
        print(indent + "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def main() -> int:
    """Exit 1 when a build failed (a timeout is a result: how far a size gets), so `--docs` keeps the last good
    figures."""
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        argv, extra = argv[: argv.index("--")], argv[argv.index("--") + 1:]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="+", help="dataset directories or synth presets (1m, 5m, 10m, ml-25m)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per build before it is killed")
    p.add_argument("--grace", type=float, default=30, help="seconds between SIGTERM and SIGKILL on timeout")
    p.add_argument("--models")
    p.add_argument("--eval-users", type=int)
    p.add_argument("--cv-max-ratings", type=int)
    p.add_argument("--folds", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--top", type=int, default=3, help="slowest stages shown in the summary table")
    p.add_argument("--echo", action="store_true", help="echo the build's stderr as it runs")
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = p.parse_args(argv)

    build_args = [*(["--quick"] if args.quick else [])]
    for flag in ("models", "eval_users", "cv_max_ratings", "folds", "seed"):
        if (value := getattr(args, flag)) is not None:
            build_args += [f"--{flag.replace('_', '-')}", str(value)]
    build_args += extra

    results = []
    for arg in args.data:
        data = resolve_data(arg)
        print(f"building {data} {' '.join(build_args)} (timeout {args.timeout:.0f} s) ...", file=sys.stderr, flush=True)
        results.append(run_build(data, build_args, args.timeout, args.grace, args.echo))
        r = results[-1]
        print(f"  {r.status}: {r.wall_s:.0f} s, CPU {r.cpu_s:.0f} s, peak {r.peak_rss_mb:,.0f} MB",
              file=sys.stderr, flush=True)
        if args.json:
            args.json.write_text(json.dumps([asdict(x) for x in results], indent=2))
    print_report(results, args.top)
    return 1 if any(r.returncode != 0 and not r.timed_out for r in results) else 0


if __name__ == "__main__":
    sys.exit(docs_results.run(main))
