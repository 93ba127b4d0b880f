"""The handler package stays light: importing the Lambda entry pulls in nothing from the build side."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "pandas", "sklearn", "surprise", "mlflow", "polars", "scipy", "pyarrow", "latentlens.build")


def test_importing_the_handler_loads_nothing_heavy():
    code = ("import latentlens.handler.app, sys, json; "
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_handler_sources_do_not_import_build_or_heavy_packages():
    for path in (REPO / "handler").rglob("*.py"):
        for line in path.read_text().splitlines():
            words = line.strip().split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1:
                module = words[1]
                assert not any(module == h or module.startswith(h + ".") for h in HEAVY), f"{path.name}: {line.strip()}"
