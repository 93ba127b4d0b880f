"""Run `latentlens build` as a subprocess on a tiny synthetic dataset, watch its log, interrupt it.

The stage a build is in is read from its own log lines ("evaluating itemknn", "retraining ...",
"top-100 ...", "artifact ... written"), never guessed from elapsed time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODELS = "popularity,itemknn,content"  # what the export needs; no rating model keeps it quick
STARTUP_TIMEOUT_S = 240  # a bound, not an expectation: imports and MLflow migrations on 2 busy cores
BUILD_TIMEOUT_S = 300


def write_tiny_dataset(out: Path) -> Path:
    """80 users x 200 movies x 4,000 ratings in the MovieLens csv layout."""
    from latentlens.build.data.synth import SynthSettings, write_synthetic

    write_synthetic(out, SynthSettings(name="small", n_users=80, n_movies=200, n_ratings=4000, n_tags=50, seed=3))
    return out


class Build:
    """One `latentlens build` subprocess whose stderr log is collected line by line."""

    def __init__(self, data: Path, out: Path, mlflow_uri: str, register: bool = False) -> None:
        cmd = [sys.executable, "-m", "latentlens", "build", "--data", str(data), "--out", str(out),
               "--mlflow-uri", mlflow_uri, "--quick", "--models", MODELS, "--folds", "2", "--no-progress"]
        cmd += [] if register else ["--no-register"]
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        self.out = out
        self.proc = subprocess.Popen(cmd, cwd=out.parent, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.stdout = ""
        self._changed = threading.Condition()
        self._readers = [threading.Thread(target=self._read_log, daemon=True),
                         threading.Thread(target=self._read_stdout, daemon=True)]
        for t in self._readers:
            t.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read_log(self) -> None:
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def _read_stdout(self) -> None:
        self.stdout = self.proc.stdout.read()

    def log(self) -> str:
        return "".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = STARTUP_TIMEOUT_S) -> str:
        """Block until a log line matches `pattern` (regex); fails if the build exits first or time runs out."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if regex.search(line):
                        return line
                seen = len(self.lines)
                if self.proc.poll() is not None and not self._readers[0].is_alive():
                    raise AssertionError(f"build exited ({self.proc.returncode}) before /{pattern}/:\n{self.log()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no /{pattern}/ within {timeout} s:\n{self.log()}")
                self._changed.wait(min(left, 0.5))

    def temp_artifact(self) -> Path:
        """The temporary file write_artifact fills before renaming it over the artifact."""
        return self.out.with_name(f".{self.out.name}.tmp-{self.pid}")

    def wait_for_file(self, path: Path, timeout: float = 60) -> None:
        """Poll (bounded) until `path` exists; fails if the build finishes first."""
        deadline = time.monotonic() + timeout
        while not path.exists():
            if self.proc.poll() is not None:
                raise AssertionError(f"build exited ({self.proc.returncode}) before {path.name} appeared:\n"
                                     f"{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{path.name} did not appear within {timeout} s:\n{self.log()}")
            time.sleep(0.005)

    def kill(self, sig: signal.Signals) -> int:
        """Send `sig` and reap the process; returns its exit code."""
        self.proc.send_signal(sig)
        return self.wait(timeout=60)

    def wait(self, timeout: float = BUILD_TIMEOUT_S) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            raise AssertionError(f"build did not finish within {timeout} s:\n{self.log()}") from None
        for t in self._readers:
            t.join(timeout=30)
        return code

    def written_sha256_prefix(self) -> str:
        """The digest prefix the build logged when it installed the artifact."""
        match = re.search(r"artifact .* written: .* sha256 ([0-9a-f]{12})", self.log())
        assert match, self.log()
        return match.group(1)


def run_build(data: Path, out: Path, mlflow_uri: str) -> Build:
    build = Build(data, out, mlflow_uri)
    code = build.wait()
    assert code == 0, f"build failed ({code}):\n{build.log()}"
    return build
