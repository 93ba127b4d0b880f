"""A real, non-editable install exposes only `latentlens`: no top-level `build` (PyPA's name) or `handler`.

The wheel is built from this checkout by the project's own backend (hatchling, following the
latentlens/build and latentlens/handler links) and installed without dependencies into a fresh venv,
which is then asked what it can import.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

PROBE = r"""
import importlib.util, json, sys
found = {name: importlib.util.find_spec(name) is not None for name in ("build", "handler", "latentlens")}
import latentlens
found["version"] = latentlens.__version__
found["latentlens_file"] = latentlens.__file__
for sub in ("latentlens.cli", "latentlens.build.pipeline", "latentlens.handler.app", "latentlens.handler.schema"):
    spec = importlib.util.find_spec(sub)
    found[sub] = spec.origin if spec else None
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out), str(REPO)], check=True, capture_output=True, timeout=300)
    (path,) = out.glob("latentlens-*.whl")
    return path


def test_wheel_holds_one_top_level_package(wheel: Path):
    with zipfile.ZipFile(wheel) as zf:
        tops = {name.split("/")[0] for name in zf.namelist() if not name.split("/")[0].endswith(".dist-info")}
        names = set(zf.namelist())
        entry_points = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert tops == {"latentlens"}
    assert {"latentlens/cli/__init__.py", "latentlens/_version.py", "latentlens/build/pipeline.py",
            "latentlens/handler/app.py", "latentlens/handler/schema.py",
            "latentlens/handler/page/index.html"} <= names  # the page ships as package data
    assert "latentlens = latentlens.cli:main" in entry_points


def test_fresh_venv_imports_latentlens_but_no_top_level_build_or_handler(wheel: Path, tmp_path: Path):
    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True, timeout=300)
    # -I: no current directory or PYTHONPATH on sys.path, so only what was installed can answer
    out = subprocess.run([str(python), "-I", "-c", PROBE], cwd=tmp_path, check=True, capture_output=True,
                         text=True, timeout=60)
    found = json.loads(out.stdout)
    assert found["build"] is False and found["handler"] is False
    assert found["latentlens"] is True
    site = str(venv)
    assert found["latentlens_file"].startswith(site)
    for sub in ("latentlens.cli", "latentlens.build.pipeline", "latentlens.handler.app", "latentlens.handler.schema"):
        assert found[sub] and found[sub].startswith(site), (sub, found[sub])
    import latentlens

    assert found["version"] == latentlens.__version__
