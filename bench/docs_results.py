"""`--docs NAME` for every bench script: what the script prints goes into docs/results/NAME.md as well, so the
documentation includes measured figures instead of retyped ones.

The file is headed by the exact command, the date, the machine (cores, load average before and after) and the
run's wall time and CPU-seconds (this process and the children it waited for: on a shared 2-core machine a wall
time alone says little). It is written only when the script succeeds, to a temporary name renamed into place, so
a failed or interrupted run never replaces an earlier result.
"""

from __future__ import annotations

import io
import os
import resource
import shlex
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
FLAG = "--docs"


class Tee(io.TextIOBase):
    """A text stream that writes to the real stdout and keeps a copy."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def split_docs_flag(argv: list[str]) -> tuple[str | None, list[str]]:
    """(NAME, the other arguments) from `--docs NAME` or `--docs=NAME` anywhere before a `--`."""
    rest: list[str] = []
    name = None
    args = iter(argv)
    for arg in args:
        if arg == "--":
            rest.append(arg)
            rest.extend(args)
            break
        if arg == FLAG:
            name = next(args, None)
            if not name:
                raise SystemExit(f"{FLAG} needs a NAME (the result is written to docs/results/NAME.md)")
        elif arg.startswith(FLAG + "="):
            name = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    if name is not None and (not name or "/" in name or name.startswith(".")):
        raise SystemExit(f"{FLAG} takes a plain name, not {name!r}")
    return name, rest


class LoadSampler:
    """The 1-minute load average every few seconds while a bench runs: the load at its start and end says little
    about the other jobs that shared the machine during it."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.samples = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_s,), daemon=True)

    def _run(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> str:
        mean = sum(self.samples) / len(self.samples)
        return (f"load average {self.samples[0]:.1f} at the start, {mean:.1f} mean and {max(self.samples):.1f} max "
                "while it ran")


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def header(command: str, started: datetime, wall: float, cpu: float, load: str) -> str:
    return (f"Written by `{command}` on {started:%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores, {load}; "
            f"wall {wall:,.0f} s, CPU {cpu:,.0f} s (the script and the processes it waited for).\n")


def write_result(path: Path, head: str, printed: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(head + "\n```text\n" + printed.rstrip("\n") + "\n```\n", encoding="utf-8")
    os.replace(tmp, path)


def run(main: Callable[[], int | None], results: Path = RESULTS) -> int | None:
    """Run a bench script's `main()`; with `--docs NAME` on the command line, also write its printed output to
    results/NAME.md once it succeeds."""
    name, rest = split_docs_flag(sys.argv[1:])
    if name is None:
        return main()
    command = shlex.join(["python", os.path.relpath(sys.argv[0]), *sys.argv[1:]])
    sys.argv[1:] = rest
    started = datetime.now(UTC)
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    real_stdout = sys.stdout
    tee = Tee(real_stdout)
    sys.stdout = tee
    try:
        with LoadSampler() as load:
            code = main()
    finally:
        sys.stdout = real_stdout
    if code not in (None, 0):
        print(f"not written to {results / name}.md: the script failed (exit {code})", file=sys.stderr)
        return code
    head = header(command, started, time.perf_counter() - t0, cpu_seconds() - cpu0, load.summary())
    write_result(results / f"{name}.md", head, tee.copy.getvalue())
    print(f"written to {os.path.relpath(results / name)}.md", file=sys.stderr)
    return code
