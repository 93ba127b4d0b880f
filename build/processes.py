"""Whether a process that left something behind (a temp artifact, a RUNNING MLflow run) is still alive."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True while `pid` exists on this host (signal 0 probes without sending; EPERM means it exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
