"""A build's MLflow scratch folder is recognisable, and the next build sweeps those killed builds left.

Each owner is a real process that takes a scratch folder and waits; "killed" is a SIGKILL, which
leaves the folder exactly as a killed build does (nothing in the process runs to remove it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from latentlens.build.tracking.scratch import LOCK_NAME, PREFIX, scratch_dir, sweep_stale
from latentlens.build.tracking.tracker import MlflowTracker

REPO = Path(__file__).resolve().parents[2]
OWNER = """
import sys
from pathlib import Path
from latentlens.build.tracking.scratch import scratch_dir
with scratch_dir(Path(sys.argv[1])) as path:
    (path / "plot.png").write_bytes(b"x" * 65536)
    print(path, flush=True)
    sys.stdin.read()  # holds the folder until stdin closes or the process is killed
"""


class Owner:
    """A process holding a scratch folder under `root`, as a running build does."""

    def __init__(self, root: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen([sys.executable, "-c", OWNER, str(root)], env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.path = Path(self.proc.stdout.readline().strip())  # printed once the folder is made and locked

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=30) == -signal.SIGKILL

    def finish(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0


def test_scratch_folders_are_named_and_locked_by_their_owner(tmp_path: Path) -> None:
    with scratch_dir(tmp_path) as path:
        assert path.parent == tmp_path and path.name.startswith(f"{PREFIX}{os.getpid()}-")
        assert (path / LOCK_NAME).is_file()
    assert not path.exists()


def test_a_killed_build_s_scratch_is_swept_and_a_running_one_s_kept(tmp_path: Path) -> None:
    killed, running = Owner(tmp_path), Owner(tmp_path)
    unrelated = tmp_path / "tmpabcd1234"  # not ours: MLflow's or anyone's, never touched
    unrelated.mkdir()
    foreign = tmp_path / f"{PREFIX}notapid"
    foreign.mkdir()
    try:
        killed.kill()
        assert killed.path.is_dir() and (killed.path / "plot.png").exists()  # what a killed build leaves
        assert sweep_stale(tmp_path) == [killed.path]
        assert not killed.path.exists()
        assert running.path.is_dir() and (running.path / "plot.png").exists()
        assert unrelated.is_dir() and foreign.is_dir()
    finally:
        running.finish()
    assert not running.path.exists()  # a build that ends removes its own


def test_a_dead_pid_whose_lock_is_held_is_kept(tmp_path: Path) -> None:
    """The pid may be dead here yet alive elsewhere (another pid namespace sharing /tmp): the lock decides."""
    running = Owner(tmp_path)
    try:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout.strip()
        disguised = running.path.rename(tmp_path / f"{PREFIX}{dead}-held")
        assert sweep_stale(tmp_path) == []
        assert disguised.is_dir()
    finally:
        running.finish()


def test_the_next_build_run_sweeps_stale_scratch_and_uses_a_recognisable_one(tmp_path: Path) -> None:
    root = tmp_path / "tmp"
    root.mkdir()
    killed = Owner(root)
    killed.kill()
    tracker = MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "scratch-test", scratch_root=root)
    with tracker.build_run("next"):
        assert not killed.path.exists()
        assert tracker.scratch.parent == root and tracker.scratch.name.startswith(f"{PREFIX}{os.getpid()}-")
        mine = tracker.scratch
    assert not mine.exists() and list(root.iterdir()) == []
