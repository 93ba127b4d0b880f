"""`latentlens serve` as a subprocess on a free 127.0.0.1 port: start, wait for /health, sample RSS, stop."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def rss_kib(pid: int) -> int:
    """Resident set size of a live process, from /proc/<pid>/status (VmRSS, in KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


class Server:
    def __init__(self, db: Path, port: int, tmp_dir: Path, *args: str, **settings: str) -> None:
        """`args` are more options of `latentlens serve` (e.g. --events FILE); `settings` become LATENTLENS_<NAME>
        environment variables of the server."""
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONPATH": str(REPO), "LATENTLENS_TMP_DIR": str(tmp_dir),
               **{f"LATENTLENS_{k.upper()}": v for k, v in settings.items()}}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "latentlens", "serve", "--db", str(db), "--host", "127.0.0.1",
             "--port", str(port), *args],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_healthy(self, timeout: float = 60) -> None:
        """Poll /health (bounded) until it answers 200; fails early if the server exits."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited ({self.proc.returncode}):\n{self.proc.stderr.read()}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"/health not 200 within {timeout} s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.proc.stderr.close()
