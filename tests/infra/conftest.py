from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.infra.cfn_yaml import load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="session")
def function(template: dict[str, Any]) -> dict[str, Any]:
    functions = {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert list(functions) == ["LookupFunction"]
    return functions["LookupFunction"]["Properties"]
