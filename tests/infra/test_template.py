"""template.yaml against its rules: least privilege, throttling, and the
routes, handler and artifact paths of the code it deploys."""

from __future__ import annotations

import importlib
import re
from typing import Any
from urllib.parse import urlsplit

from infra import artifact, sam, settings, stage
from latentlens.handler import table_layout
from tests.infra.cfn_yaml import text_of
from tests.infra.conftest import REPO_ROOT

# Routes outside the OpenAPI schema. The page, /docs and /redoc with their assets and /openapi.json are
# routed (the API's face and documentation for users); the OAuth2 redirect deliberately is not.
ROUTED_DOCS = {("GET", "/"), ("GET", "/docs"), ("GET", "/redoc"), ("GET", "/docs/assets/{name}"),
               ("GET", "/openapi.json")}
UNROUTED_DOCS = {"/docs/oauth2-redirect"}

# The one wildcard IAM allows no way around: Lambda names log streams at run time, so the role
# may write any stream, but only inside the function's own log group.
LOG_STREAM_RESOURCE = (
    "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${LookupFunctionLogGroup}:log-stream:*"
)


# The other: one DynamoDB table per published build, so the role reads this deployment's name prefix
# (a name holds no '.', so `<name>.*` matches no other name's tables).
BUILD_TABLES_RESOURCE = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${DynamoDBName}.*"
POINTER_RESOURCE = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${DynamoDBName}"


def _statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every IAM statement in the template, with the policy name it belongs to."""
    found = []
    for name, res in template["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                if "Fn::If" in policy:  # conditional policy: check the branch that is a policy
                    policy = next(b for b in policy["Fn::If"][1:] if isinstance(b, dict) and "PolicyDocument" in b)
                found += [(policy["PolicyName"], st) for st in policy["PolicyDocument"]["Statement"]]
        elif res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            found += [(name, st) for st in props["PolicyDocument"]["Statement"]]
        elif res["Type"] == "AWS::Serverless::Function":
            assert "Policies" not in props, f"{name}: SAM policy templates would add a generated role"
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_function_uses_the_written_out_role_and_no_managed_policies(template, function):
    assert function["Role"] == {"Fn::GetAtt": ["LookupFunctionRole", "Arn"]}
    role = template["Resources"]["LookupFunctionRole"]["Properties"]
    assert "ManagedPolicyArns" not in role  # AWSLambdaBasicExecutionRole would bring Resource "*"
    principal = role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {"Service": "lambda.amazonaws.com"}


def test_no_wildcard_actions_or_resources(template):
    statements = _statements(template)
    assert len(statements) >= 2
    for policy, st in statements:
        assert st["Effect"] == "Allow"
        assert "NotAction" not in st and "NotResource" not in st, policy
        for action in _as_list(st["Action"]):
            assert "*" not in action and "?" not in action, f"{policy}: wildcard action {action}"
        for resource in map(text_of, _as_list(st["Resource"])):
            if resource in (LOG_STREAM_RESOURCE, BUILD_TABLES_RESOURCE):
                continue
            assert "*" not in resource and "?" not in resource, f"{policy}: wildcard resource {resource}"


def test_logs_policy_writes_only_the_functions_own_log_group(template, function):
    logs = [st for _, st in _statements(template) if any(a.startswith("logs:") for a in _as_list(st["Action"]))]
    assert len(logs) == 1
    assert sorted(logs[0]["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert [text_of(r) for r in _as_list(logs[0]["Resource"])] == [LOG_STREAM_RESOURCE]
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "LookupFunctionLogGroup"}


def test_s3_policy_is_getobject_on_the_artifact_and_its_manifest_only_and_only_in_s3_mode(template):
    policies = template["Resources"]["LookupFunctionRole"]["Properties"]["Policies"]
    conditional = [p for p in policies if "Fn::If" in p and p["Fn::If"][0] == "UseS3"]
    assert len(conditional) == 1
    condition, when_s3, otherwise = conditional[0]["Fn::If"]
    assert condition == "UseS3" and otherwise == {"Ref": "AWS::NoValue"}
    assert template["Conditions"]["UseS3"] == {"Fn::Equals": [{"Ref": "ArtifactMode"}, "s3"]}
    s3_statements = [st for _, st in _statements(template) if any(a.startswith("s3:") for a in _as_list(st["Action"]))]
    assert s3_statements == when_s3["PolicyDocument"]["Statement"]
    [st] = s3_statements
    assert _as_list(st["Action"]) == ["s3:GetObject"]
    key_arn = "arn:${AWS::Partition}:s3:::${ArtifactBucket}/${ArtifactKey}"
    assert [text_of(r) for r in _as_list(st["Resource"])] == [key_arn, key_arn + ".sha256"]


def test_dynamodb_policy_reads_the_pointer_and_the_build_tables_only_and_only_in_dynamodb_mode(template):
    policies = template["Resources"]["LookupFunctionRole"]["Properties"]["Policies"]
    conditional = [p for p in policies if "Fn::If" in p and p["Fn::If"][0] == "UseDynamoDB"]
    assert len(conditional) == 1
    _, when_dynamodb, otherwise = conditional[0]["Fn::If"]
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert template["Conditions"]["UseDynamoDB"] == {"Fn::Equals": [{"Ref": "ArtifactMode"}, "dynamodb"]}
    found = [st for _, st in _statements(template) if any(a.startswith("dynamodb:") for a in _as_list(st["Action"]))
             and not any(text_of(r).startswith("${EventsTable.Arn}") for r in _as_list(st["Resource"]))]
    assert found == when_dynamodb["PolicyDocument"]["Statement"]
    granted = {text_of(r): sorted(_as_list(st["Action"])) for st in found for r in _as_list(st["Resource"])}
    # what handler.dynamodb calls, nothing else: no Query, Scan or any write
    assert granted == {POINTER_RESOURCE: ["dynamodb:GetItem"],
                       BUILD_TABLES_RESOURCE: ["dynamodb:BatchGetItem", "dynamodb:GetItem"]}


def test_dynamodb_name_parameter_is_the_publishers_name_pattern(template):
    pattern = template["Parameters"]["DynamoDBName"]["AllowedPattern"]
    assert pattern == "^$|" + table_layout.NAME_PATTERN.pattern
    name = re.compile(pattern)
    assert name.match("latentlens") and name.match("")
    for bad in ("latentlens.*", "*", "a.b", "a?", "ab", "x y"):
        assert not name.match(bad), bad
    built = table_layout.build_table("latentlens", "20261201T000000000000-abcdef12")
    assert table_layout.is_build_table("latentlens", built)
    assert not table_layout.is_build_table("latentlens-other", built)


def test_artifact_key_and_bucket_parameters_cannot_smuggle_a_wildcard(template):
    params = template["Parameters"]
    assert params["ArtifactKey"]["AllowedPattern"] == "^$|" + artifact.KEY_PATTERN.pattern
    assert params["ArtifactBucket"]["AllowedPattern"] == "^$|" + settings.BUCKET_PATTERN.pattern
    key = re.compile(params["ArtifactKey"]["AllowedPattern"])
    assert key.match("latentlens/" + "ab" * 32 + "/latentlens.duckdb")
    for bad in ("latentlens/*", "*", "a/?/b", "a b"):
        assert not key.match(bad), bad


def test_throttling_and_cors_are_set_on_the_http_api(template):
    api = template["Resources"]["LookupApi"]
    assert api["Type"] == "AWS::Serverless::HttpApi"
    route = api["Properties"]["DefaultRouteSettings"]
    params = template["Parameters"]
    for setting in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
        assert route[setting] == {"Ref": setting}
        assert int(params[setting]["Default"]) >= 1 and int(params[setting]["MinValue"]) >= 1
    assert int(params["ThrottlingBurstLimit"]["Default"]) >= int(params["ThrottlingRateLimit"]["Default"])
    cors = api["Properties"]["CorsConfiguration"]
    # SAM inlines parameters into the OpenAPI body: a list parameter would arrive as one string
    assert cors["AllowOrigins"] == [{"Ref": "CorsAllowOrigin"}]
    assert params["CorsAllowOrigin"]["Type"] == "String"
    assert set(cors["AllowMethods"]) == {"GET", "OPTIONS"}


def test_cors_is_closed_by_default_and_the_origin_is_a_parameter_that_cannot_be_a_wildcard(template):
    """No browser page may read the API from another site unless the deployer names its origin: the default
    is in `.invalid` (RFC 2606: never a real site), and the parameter's pattern refuses `*` and lists."""
    param = template["Parameters"]["CorsAllowOrigin"]
    default = param["Default"]
    assert default != "*" and urlsplit(default).hostname.endswith(".invalid")
    pattern = re.compile(param["AllowedPattern"])
    assert pattern.fullmatch(default)
    for accepted in ("https://example.com", "http://localhost:8080", "https://www.example.co.uk"):
        assert pattern.fullmatch(accepted), accepted
    for refused in ("*", "", "https://*.example.com", "https://a.example,https://b.example", "null",
                    "example.com", "https://example.com/path", "https://example.com "):
        assert not pattern.fullmatch(refused), refused


def _template_routes(function: dict[str, Any]) -> set[tuple[str, str]]:
    routes = set()
    for name, event in function["Events"].items():
        assert event["Type"] == "HttpApi", name
        props = event["Properties"]
        assert props["ApiId"] == {"Ref": "LookupApi"}, name
        routes.add((props["Method"].upper(), props["Path"]))
    assert len(routes) == len(function["Events"]), "two events declare the same route"
    return routes


def _app_routes() -> tuple[set[tuple[str, str]], set[str]]:
    """(method, path) of the OpenAPI schema, and the paths of the app's non-schema routes."""
    from latentlens.handler.app import create_app
    from latentlens.handler.settings import Settings

    app = create_app(Settings(db="/nonexistent/never-opened.duckdb"))
    api = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    extra = {r.path for r in _flat(app.routes)
             if getattr(r, "path", None) and not getattr(r, "include_in_schema", True)}
    return api, extra


def _flat(routes):
    """Routes, with those of included routers (FastAPI keeps them behind one entry per router) spelled out."""
    for route in routes:
        router = getattr(route, "original_router", None)
        yield from _flat(router.routes) if router is not None else (route,)


def test_routes_in_the_template_are_exactly_the_apps_routes(function):
    api, extra = _app_routes()
    assert api, "the app exposes no routes"
    routes = _template_routes(function)
    assert routes == api | ROUTED_DOCS
    assert {p for _, p in ROUTED_DOCS} <= extra
    assert extra - {p for _, p in ROUTED_DOCS} <= UNROUTED_DOCS, "a new non-schema route needs a decision here"


def test_no_catch_all_route(function):
    for method, path in _template_routes(function):
        assert method != "ANY" and "$default" not in path and "+}" not in path, (method, path)


def test_the_folder_deploy_compiles_is_the_function_sam_builds(template):
    assert template["Resources"][sam.FUNCTION]["Type"] == "AWS::Serverless::Function"


def test_handler_path_imports_and_is_callable(function):
    module_name, _, attr = function["Handler"].rpartition(".")
    assert module_name == "latentlens.handler.app"
    entry = getattr(importlib.import_module(module_name), attr)
    assert callable(entry)


def test_code_uri_holds_the_handler_package_and_its_requirements_only(function):
    code = REPO_ROOT / function["CodeUri"]
    assert code.resolve() == (REPO_ROOT / settings.DEFAULT_CODE_DIR).resolve()
    package = code / "latentlens"
    assert (package / "handler").resolve() == (REPO_ROOT / "handler").resolve()
    assert (package / "__init__.py").resolve() == (REPO_ROOT / "latentlens/__init__.py").resolve()
    assert (package / "handler/app.py").is_file()
    tracked = {p.name for p in code.iterdir()} - {stage.STAGE_DIR}
    assert tracked == {"latentlens", "requirements.txt", ".gitignore"}
    assert {p.name for p in package.iterdir()} == {"__init__.py", "handler"}  # never the build pipeline


def test_bundled_db_path_is_where_deploy_stages_the_artifact(function):
    db = function["Environment"]["Variables"]["LATENTLENS_DB"]["Fn::If"]
    assert db[0] == "UseS3"
    assert text_of(db[1]) == "s3://${ArtifactBucket}/${ArtifactKey}"
    condition, dynamodb_db, bundled_db = db[2]["Fn::If"]
    assert condition == "UseDynamoDB" and text_of(dynamodb_db) == "dynamodb://${DynamoDBName}"
    assert bundled_db == f"/var/task/{stage.STAGE_DIR}/{artifact.ARTIFACT_NAME}"


def test_globals_carry_the_shared_function_settings(template):
    fn = template["Globals"]["Function"]
    assert fn["Runtime"] == sam.LAMBDA_PYTHON == "python3.12"  # sam build needs that interpreter
    assert fn["Architectures"] in (["x86_64"], ["arm64"])
    assert 128 <= fn["MemorySize"] <= 10240
    assert 1 <= fn["Timeout"] < 30  # under API Gateway's 30 s, so Lambda's own timeout is what fires
    assert fn["EphemeralStorage"]["Size"] == {"Ref": "TmpStorageMB"}


def test_outputs_give_the_api_url(template):
    url = text_of(template["Outputs"]["ApiUrl"]["Value"])
    assert url.startswith("https://${LookupApi}.execute-api.${AWS::Region}.")


def test_rules_require_bucket_and_key_in_s3_mode_only(template):
    rule = template["Rules"]["S3ModeNeedsBucketAndKey"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "ArtifactMode"}, "s3"]}
    checked = {a["Assert"]["Fn::Not"][0]["Fn::Equals"][0]["Ref"] for a in rule["Assertions"]}
    assert checked == {"ArtifactBucket", "ArtifactKey"}
    assert template["Parameters"]["ArtifactMode"]["AllowedValues"] == ["bundled", "s3", "dynamodb"]
    rule = template["Rules"]["DynamoDBModeNeedsName"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "ArtifactMode"}, "dynamodb"]}
    assert [a["Assert"]["Fn::Not"][0]["Fn::Equals"][0]["Ref"] for a in rule["Assertions"]] == ["DynamoDBName"]


def test_snapstart_on_published_versions_behind_an_alias_and_a_quick_first_answer(template, function):
    """SnapStart applies to published versions only: the function publishes one behind `live` on every deploy, with
    SnapStart a parameter (the deploy turns it off where Lambda refuses it, /tmp over 512 MB); the immutable package
    answers once its manifest's fingerprint matches (handler/settings.py quick_verify)."""
    from latentlens.handler.settings import Settings

    assert function["AutoPublishAlias"] == "live"
    assert function["SnapStart"] == {"ApplyOn": {"Ref": "SnapStart"}}
    parameter = template["Parameters"]["SnapStart"]
    assert parameter["Default"] == "PublishedVersions" and set(parameter["AllowedValues"]) == {"PublishedVersions",
                                                                                               "None"}
    assert template["Parameters"]["TmpStorageMB"]["Default"] == 512  # SnapStart's limit, so the default holds
    quick = function["Environment"]["Variables"]["LATENTLENS_QUICK_VERIFY"]
    assert Settings(quick_verify=quick).quick_verify is True
