"""Run a command with a real, small (or read-only) tmpfs mounted: disk-full and read-only faults for real.

The mount lives in a private mount namespace (`unshare --mount`, mapped to root when the
tests do not run as root), so it disappears with the command and never touches the host.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = 'mount -t tmpfs -o "$1" latentlens-test "$2" && shift 2 && exec "$@"'


def run_on_tmpfs(mountpoint: Path, options: str, argv: list[str], cwd: Path,
                 timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`argv` run with a tmpfs mounted at `mountpoint` (options e.g. "size=4m" or "ro")."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    attempts = (["unshare", "--mount", "--map-root-user"], ["unshare", "--mount"])
    failures = []
    for prefix in attempts:
        done = subprocess.run([*prefix, "sh", "-c", SCRIPT, "sh", options, str(mountpoint), *argv],
                              cwd=cwd, capture_output=True, text=True, timeout=timeout)
        if "unshare:" not in done.stderr and "mount:" not in done.stderr:
            return done
        failures.append(done.stderr.strip())
    raise AssertionError("cannot mount a test tmpfs in a private mount namespace (needs util-linux's "
                         "unshare and user or mount namespaces): " + " | ".join(failures))
