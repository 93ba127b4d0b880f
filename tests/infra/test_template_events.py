"""template.yaml's events in: the table is the layout handler/events/dynamodb_store.py reads and writes, on demand,
with TTL and point-in-time recovery, kept on delete; the function may only put into it and query its index; the
route is throttled on its own; the function is told the table and the key."""

from __future__ import annotations

import re
from typing import Any

from latentlens.handler.events import dynamodb_store as layout
from latentlens.handler.settings import Settings
from tests.infra.cfn_yaml import text_of

TABLE_ARN = "${EventsTable.Arn}"


def _table(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["EventsTable"]


def _events_policy(template: dict[str, Any]) -> dict[str, Any]:
    policies = template["Resources"]["LookupFunctionRole"]["Properties"]["Policies"]
    [conditional] = [p for p in policies if "Fn::If" in p and p["Fn::If"][0] == "UseEvents"]
    condition, policy, otherwise = conditional["Fn::If"]
    assert otherwise == {"Ref": "AWS::NoValue"}
    return policy


def test_the_events_table_is_on_demand_with_ttl_and_point_in_time_recovery_and_kept(template):
    table = _table(template)
    assert table["Type"] == "AWS::DynamoDB::Table" and table["Condition"] == "UseEvents"
    assert template["Conditions"]["UseEvents"] == {"Fn::Equals": [{"Ref": "Events"}, "enabled"]}
    assert template["Parameters"]["Events"]["AllowedValues"] == ["enabled", "disabled"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"  # people's events outlive a stack
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": layout.EXPIRES_AT, "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert "TableName" not in props  # a retained table never blocks the next stack's


def test_the_events_table_is_the_layout_the_store_uses(template):
    props = _table(template)["Properties"]
    assert props["KeySchema"] == [{"AttributeName": layout.PERSON, "KeyType": "HASH"},
                                  {"AttributeName": layout.EVENT_ID, "KeyType": "RANGE"}]
    [index] = props["LocalSecondaryIndexes"]
    assert index == {"IndexName": layout.INDEX, "Projection": {"ProjectionType": "ALL"},
                     "KeySchema": [{"AttributeName": layout.PERSON, "KeyType": "HASH"},
                                   {"AttributeName": layout.TYPE_AT, "KeyType": "RANGE"}]}
    assert {(a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]} == {
        (layout.PERSON, "S"), (layout.EVENT_ID, "S"), (layout.TYPE_AT, "S")}


def test_the_function_may_only_put_events_and_query_their_index(template):
    policy = _events_policy(template)
    granted = {(text_of(r), action) for st in policy["PolicyDocument"]["Statement"]
               for action in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
               for r in ([st["Resource"]] if not isinstance(st["Resource"], list) else st["Resource"])}
    assert granted == {(TABLE_ARN, "dynamodb:PutItem"), (f"{TABLE_ARN}/index/{layout.INDEX}", "dynamodb:Query")}
    # and no other policy of the role names the table
    others = [p for p in template["Resources"]["LookupFunctionRole"]["Properties"]["Policies"]
              if p is not policy and not ("Fn::If" in p and p["Fn::If"][0] == "UseEvents")]
    assert "EventsTable" not in repr(others)


def test_post_events_is_routed_and_throttled_on_its_own(template, function):
    event = function["Events"]["PostEvents"]["Properties"]
    assert (event["Method"], event["Path"]) == ("POST", "/events")
    assert event["RouteSettings"] == {"ThrottlingRateLimit": {"Ref": "EventsThrottlingRateLimit"},
                                      "ThrottlingBurstLimit": {"Ref": "EventsThrottlingBurstLimit"}}
    params = template["Parameters"]
    rate, burst = (int(params[f"EventsThrottling{k}Limit"]["Default"]) for k in ("Rate", "Burst"))
    assert 1 <= rate <= burst
    assert rate <= int(params["ThrottlingRateLimit"]["Default"])
    assert burst <= int(params["ThrottlingBurstLimit"]["Default"])


def test_the_function_is_told_the_table_the_key_and_the_retention(template, function):
    env = function["Environment"]["Variables"]
    condition, on, off = env["LATENTLENS_EVENTS"]["Fn::If"]
    assert condition == "UseEvents" and text_of(on) == "dynamodb://${EventsTable}" and off == ""
    assert Settings(events=off).events is None  # disabled: POST /events answers 503 events_disabled
    assert env["LATENTLENS_EVENTS_KEY"] == {"Ref": "EventsKey"}
    assert env["LATENTLENS_EVENTS_RETENTION_DAYS"] == {"Ref": "EventsRetentionDays"}
    key = template["Parameters"]["EventsKey"]
    assert key["NoEcho"] is True and key["Default"] == ""
    assert Settings(events_key=key["Default"]).events_key is None  # no key: session events only
    pattern = re.compile(key["AllowedPattern"])
    for accepted in ("a" * 16, "A-z_0" * 10):
        assert pattern.fullmatch(accepted) and Settings(events_key=accepted).events_key is not None
    for refused in ("a" * 15, "a" * 257, "with space" * 3, "é" * 20):
        assert not pattern.fullmatch(refused), refused
    assert text_of(template["Outputs"]["EventsTableName"]["Value"]) == "${EventsTable}"
