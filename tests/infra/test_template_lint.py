"""cfn-lint (with the SAM transform) passes template.yaml, and does fail a broken copy of it,
so this check can go red."""

from __future__ import annotations

import pytest
from cfnlint.api import lint

from tests.infra.conftest import TEMPLATE


def _errors(text: str) -> list[str]:
    # E = errors, W = warnings: both fail; I (informational) does not.
    return [str(m) for m in lint(text, regions=["us-east-1"]) if m.rule.id[0] in "EW"]


def test_template_passes_cfn_lint():
    assert _errors(TEMPLATE.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        ("Runtime: python3.12", "Runtime: python2.7", "E2533"),  # a runtime Lambda no longer creates
        # a misspelled property
        ("AllowedValues: [bundled, s3, dynamodb]", "AllowedValue: [bundled, s3, dynamodb]", "E2001"),
    ],
)
def test_cfn_lint_reports_a_broken_template(old, new, rule):
    text = TEMPLATE.read_text(encoding="utf-8")
    assert text.count(old) == 1
    errors = _errors(text.replace(old, new))
    assert any(rule in e for e in errors), errors
