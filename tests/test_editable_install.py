"""`import latentlens` finds the real package from any working directory, one that holds a `latentlens/` folder
included (as /tmp did once the handler's temp folder was /tmp/latentlens).

The editable install of `make install` puts editable/ (nothing in it but a `latentlens` link to the package)
on sys.path with a plain .pth line. A regular package found anywhere on sys.path wins over namespace
portions, so an empty `latentlens/` folder in the current directory, which Python puts first, is passed
over. (Hatchling's dev-mode-exact import hook ran after the normal path search, so that folder was imported
as an empty namespace package and `latentlens.open` was an AttributeError.) A *regular* package named
latentlens in the current directory does shadow it, as it shadows any installed package: Python's rule.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = ("import json, latentlens, latentlens.lens\n"
         "print(json.dumps({'file': latentlens.__file__, 'open': latentlens.open is latentlens.lens.open,\n"
         "                  'callable': callable(latentlens.open), 'version': latentlens.__version__}))\n")


def probe(cwd: Path) -> dict:
    """A fresh interpreter of this venv in `cwd`, with nothing on sys.path but what the install put there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    return {**found, "file": found["file"] and str(Path(found["file"]).resolve())}  # editable/latentlens is a link


def test_latentlens_open_is_the_real_function_beside_an_empty_latentlens_folder(tmp_path: Path) -> None:
    (tmp_path / "latentlens").mkdir()
    found = probe(tmp_path)
    assert found["open"] is True and found["callable"] is True
    assert found["file"] == str(REPO / "latentlens" / "__init__.py")


def test_the_working_directory_does_not_change_what_is_imported(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "shadowed" / "latentlens" / "build").mkdir(parents=True)  # a namespace portion, nested too
    assert probe(tmp_path / "plain") == probe(tmp_path / "shadowed") == probe(REPO)


def test_the_handlers_temp_folder_is_no_package_name() -> None:
    """Its default under /tmp, created by `latentlens serve` and every S3 download, must never be importable."""
    from latentlens.handler.settings import Settings

    name = Path(Settings.model_fields["tmp_dir"].default).name
    assert name.startswith("latentlens") and not name.isidentifier()
