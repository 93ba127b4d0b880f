"""`python3 requirements.py [EXTRA...]`: print the project's dependencies and those of the extras, one a line,
read from ./pyproject.toml (the Dockerfile installs them in a layer of their own, rebuilt only when they or
constraints.txt change, not with the code). An extra's reference to the project itself
(`latentlens[serve]`) is left out: name that extra too."""

import sys
import tomllib
from pathlib import Path

project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
extras = [r for extra in sys.argv[1:] for r in project["optional-dependencies"][extra]]
print("\n".join(r for r in project["dependencies"] + extras if not r.startswith("latentlens")))
