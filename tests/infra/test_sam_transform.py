"""template.yaml through the real SAM transform (aws-sam-translator, what `sam deploy` and CloudFormation's
AWS::Serverless-2016-10-31 run), offline: what API Gateway is given for CORS with CorsAllowOrigin at its default
and set to one origin. cfn-lint checks the SAM template as written; this checks what it turns into.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

import pytest

from infra import sam

ORIGIN = "https://example.org"
PACKAGED_CODE = "s3://packaged-by-sam/lookup.zip"  # what `sam package` puts for the local CodeUri


class NoManagedPolicies:
    """The managed-policy map the transform asks IAM for: the template names no managed policy."""

    def load(self) -> dict[str, str]:
        return {}


def transformed(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    from samtranslator.translator.transform import transform

    packaged = copy.deepcopy(template)  # the transform changes what it is given
    packaged["Resources"][sam.FUNCTION]["Properties"]["CodeUri"] = PACKAGED_CODE
    return transform(packaged, parameters, NoManagedPolicies())


def the_http_api(generated: dict[str, Any]) -> dict[str, Any]:
    apis = [r for r in generated["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Api"]
    assert len(apis) == 1, [r["Type"] for r in generated["Resources"].values()]
    return apis[0]["Properties"]["Body"]  # the OpenAPI document API Gateway imports


def mentions(value: Any, text: str) -> bool:
    if isinstance(value, dict):
        return any(mentions(k, text) or mentions(v, text) for k, v in value.items())
    if isinstance(value, list):
        return any(mentions(v, text) for v in value)
    return isinstance(value, str) and text.lower() in value.lower()


@pytest.fixture
def region(monkeypatch: pytest.MonkeyPatch) -> None:
    """The transform fills AWS::Region in ARNs from the environment; no AWS account is asked anything."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")


@pytest.mark.parametrize("parameters", [{}, {"CorsAllowOrigin": ORIGIN}], ids=["default", "set"])
def test_the_sam_transform_gives_api_gateway_cors_for_exactly_the_origin_set_and_for_no_site_by_default(
        template, region, parameters) -> None:
    generated = transformed(template, parameters)
    body = the_http_api(generated)
    cors = body["x-amazon-apigateway-cors"]
    origins = cors["allowOrigins"]
    if parameters:
        assert origins == [ORIGIN]
    else:  # closed: the one origin SAM passes on is in .invalid (RFC 2606), no site a browser can load
        assert origins == [template["Parameters"]["CorsAllowOrigin"]["Default"]]
        assert urlsplit(origins[0]).hostname.endswith(".invalid")
    assert not cors.get("allowCredentials") and set(cors["allowMethods"]) == {"GET", "OPTIONS"}
    # API Gateway's CORS is the only thing that answers a preflight: no route takes OPTIONS to the function (the
    # lookups are GET, POST /events alone is POST), and nothing anywhere sets Access-Control-Allow-Origin by hand
    methods = {(route, method) for route, path in body["paths"].items() for method in path}
    assert {method for _, method in methods} == {"get", "post"}, methods
    assert {route for route, method in methods if method == "post"} == {"/events"}
    assert not mentions(generated, "Access-Control-Allow-Origin")
    assert not mentions(cors, "*")


def test_the_transform_changes_nothing_but_the_origin(template, region) -> None:
    """The origin is the parameter's only effect: the rest of the generated template is the same."""
    default, opened = (transformed(template, p) for p in ({}, {"CorsAllowOrigin": ORIGIN}))
    the_http_api(opened)["x-amazon-apigateway-cors"]["allowOrigins"] = ["(origin)"]
    the_http_api(default)["x-amazon-apigateway-cors"]["allowOrigins"] = ["(origin)"]
    assert opened == default
