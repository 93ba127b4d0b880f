"""mypy finds nothing in the `latentlens` package (build/ and handler/ through its links), with the
project's configuration ([tool.mypy] in pyproject.toml).

Run from the repository root, so mypy reads that configuration and checks this checkout's package.
The cache is mypy's own `.mypy_cache/` there (ignored by git): a cold run takes about 25 s on two
cores, a warm one under a second, so like tests/test_lint.py it stays in the fast tier.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[1]


def test_mypy_reports_nothing() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"mypy exited {result.returncode}:\n{result.stdout}{result.stderr}"
