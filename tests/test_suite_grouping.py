"""`make test` runs the suite in two pytest-xdist workers with --dist loadgroup: every test of a group (a file, all
of Spark's files, all of Docker's) must run in one worker, or two Spark sessions start at once on two cores. A
pytest upgrade once broke that silently (pytest-dev/pytest-xdist#1386): here a real two-worker run of a throwaway
suite, grouped by this suite's own conftest hook, says which worker ran what."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

SPARK_LIKE = """
import os

def test_{name}_{i}():
    with open({log!r}, "a") as f:
        f.write(os.environ["PYTEST_XDIST_WORKER"] + " {name}\\n")
"""

CONFTEST = """
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:  # as tests/conftest.py does: one named group for two files, else the file
        group = "engine" if item.path.name.startswith("test_engine") else item.path.name
        item.add_marker(pytest.mark.xdist_group(group))
"""


def test_a_group_of_two_files_runs_in_one_worker_of_two(tmp_path: Path) -> None:
    log = tmp_path / "ran.txt"
    (tmp_path / "conftest.py").write_text(CONFTEST)
    for name in ("engine_a", "engine_b", "other_c", "other_d"):
        body = "".join(SPARK_LIKE.format(name=name, i=i, log=str(log)) for i in range(6))
        (tmp_path / f"test_{name}.py").write_text(body)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
                             "--dist", "loadgroup", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stdout + result.stderr
    ran = [line.split() for line in log.read_text().splitlines()]
    assert len(ran) == 24
    workers = {name: {w for w, n in ran if n == name} for name in ("engine_a", "engine_b", "other_c", "other_d")}
    assert all(len(ws) == 1 for ws in workers.values()), workers  # a file stays whole
    assert workers["engine_a"] == workers["engine_b"], workers  # the named group too
    assert len({w for w, _ in ran}) == 2, ran  # and both workers were used
