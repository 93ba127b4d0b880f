"""The Lambda package's requirements: only the handler's runtime, pinned as the project pins."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.infra.conftest import REPO_ROOT

REQUIREMENTS = REPO_ROOT / "infra/lambda/requirements.txt"
CONSTRAINTS = REPO_ROOT / "constraints.txt"
DIRECT = {"fastapi", "mangum", "duckdb", "pydantic-settings", "fastapi-offline"}
# Never in the package: heavy build-only libraries, and boto3, which the Lambda runtime provides.
FORBIDDEN = {"boto3", "botocore", "numpy", "pandas", "scipy", "scikit-learn", "scikit-surprise", "mlflow", "polars",
             "pyarrow", "uvicorn"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"{path.name}: {line!r} is not an exact pin"
        pins[_norm(name)] = version.strip()
    return pins


def test_requirements_are_exact_pins_consistent_with_constraints():
    lambda_pins = _pins(REQUIREMENTS)
    project_pins = _pins(CONSTRAINTS)
    assert DIRECT <= set(lambda_pins)
    for name, version in lambda_pins.items():
        assert project_pins.get(name) == version, f"{name}=={version} but constraints.txt pins {project_pins.get(name)}"


def test_requirements_leave_out_build_only_libraries_and_boto3():
    assert not FORBIDDEN & set(_pins(REQUIREMENTS))


def test_handler_imports_nothing_outside_its_requirements_and_the_runtime():
    """Every import in handler/ is stdlib, latentlens.handler itself, a pinned requirement, or
    boto3/botocore/urllib3 (runtime)."""
    import sys

    provided = {"fastapi", "mangum", "duckdb", "pydantic", "pydantic_settings", "starlette", "anyio",
                "typing_extensions"}
    # urllib3 comes with botocore (the runtime's); handler/s3.py reads S3 bodies through it
    allowed = set(sys.stdlib_module_names) | provided | {"boto3", "botocore", "urllib3", "__future__"}
    for source in (REPO_ROOT / "handler").rglob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name == "latentlens" or name.startswith("latentlens.handler"):
                    continue  # the package's light __init__ and the handler itself ship; latentlens.build does not
                assert name.split(".")[0] in allowed, \
                    f"{source.relative_to(REPO_ROOT)} imports {name}, not in the Lambda package"
