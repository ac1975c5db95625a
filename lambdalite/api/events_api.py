"""The EventBridge API subset that schedules functions (JSON protocol,
`X-Amz-Target: AWSEvents.<Operation>`): parse, call the RuleService, render. botocore's
model (`events/2015-10-07`) is the spec; `boto3.client("events")` works unchanged.

PutRule (ScheduleExpression), DescribeRule, ListRules, EnableRule, DisableRule,
DeleteRule, PutTargets, ListTargetsByRule, RemoveTargets, TagResource, UntagResource,
ListTagsForResource. Other operations answer UnsupportedOperation naming themselves.
"""

from __future__ import annotations

from typing import Any

from lambdalite.api.dispatcher import Call, Handler
from lambdalite.api.json_protocol import JsonService
from lambdalite.schedules.model import DEFAULT_BUS, Rule, RuleState, Target
from lambdalite.schedules.service import RuleService


class EventsApi(JsonService):
    target_prefix = "AWSEvents"
    model_name = "events"

    def __init__(self, rules: RuleService) -> None:
        self._rules = rules

    def handlers(self) -> dict[str, Handler]:
        return {
            "PutRule": self.put_rule,
            "DescribeRule": self.describe_rule,
            "ListRules": self.list_rules,
            "EnableRule": self.enable_rule,
            "DisableRule": self.disable_rule,
            "DeleteRule": self.delete_rule,
            "PutTargets": self.put_targets,
            "ListTargetsByRule": self.list_targets_by_rule,
            "RemoveTargets": self.remove_targets,
            "TagResource": self.tag_resource,
            "UntagResource": self.untag_resource,
            "ListTagsForResource": self.list_tags_for_resource,
        }

    # -- rules ----------------------------------------------------------------------------
    def put_rule(self, call: Call) -> dict[str, Any]:
        rule = self._rules.put_rule(call.account_id, call.params)
        return {"RuleArn": self._rules.arn(rule)}

    def describe_rule(self, call: Call) -> dict[str, Any]:
        p = call.params
        rule = self._rules.rule(call.account_id, p["Name"], p.get("EventBusName"))
        body = self._rule(rule)
        body["CreatedBy"] = rule.account_id
        return body

    def list_rules(self, call: Call) -> dict[str, Any]:
        p = call.params
        rules, token = self._rules.rules(
            call.account_id,
            p.get("NamePrefix"),
            p.get("NextToken"),
            p.get("Limit"),
            p.get("EventBusName"),
        )
        return _with_token({"Rules": [self._rule(r) for r in rules]}, token)

    def enable_rule(self, call: Call) -> None:
        p = call.params
        self._rules.set_state(call.account_id, p["Name"], RuleState.ENABLED, p.get("EventBusName"))

    def disable_rule(self, call: Call) -> None:
        p = call.params
        self._rules.set_state(call.account_id, p["Name"], RuleState.DISABLED, p.get("EventBusName"))

    def delete_rule(self, call: Call) -> None:
        p = call.params
        self._rules.delete_rule(call.account_id, p["Name"], p.get("EventBusName"))

    def _rule(self, rule: Rule) -> dict[str, Any]:
        body: dict[str, Any] = {
            "Name": rule.name,
            "Arn": self._rules.arn(rule),
            "ScheduleExpression": rule.schedule_expression,
            "State": rule.state.value,
        }
        if rule.description is not None:
            body["Description"] = rule.description
        if rule.role_arn is not None:
            body["RoleArn"] = rule.role_arn
        body["EventBusName"] = DEFAULT_BUS
        return body

    # -- targets --------------------------------------------------------------------------
    def put_targets(self, call: Call) -> dict[str, Any]:
        p = call.params
        failed = self._rules.put_targets(
            call.account_id, p["Rule"], p["Targets"], p.get("EventBusName")
        )
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    def list_targets_by_rule(self, call: Call) -> dict[str, Any]:
        p = call.params
        targets, token = self._rules.targets(
            call.account_id, p["Rule"], p.get("NextToken"), p.get("Limit"), p.get("EventBusName")
        )
        return _with_token({"Targets": [_target(t) for t in targets]}, token)

    def remove_targets(self, call: Call) -> dict[str, Any]:
        p = call.params
        self._rules.remove_targets(call.account_id, p["Rule"], p["Ids"], p.get("EventBusName"))
        return {"FailedEntryCount": 0, "FailedEntries": []}

    # -- tags -----------------------------------------------------------------------------
    def tag_resource(self, call: Call) -> None:
        p = call.params
        self._rules.tag(call.account_id, p["ResourceARN"], p["Tags"])

    def untag_resource(self, call: Call) -> None:
        p = call.params
        self._rules.untag(call.account_id, p["ResourceARN"], p["TagKeys"])

    def list_tags_for_resource(self, call: Call) -> dict[str, Any]:
        tags = self._rules.tags(call.account_id, call.params["ResourceARN"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}


def _target(target: Target) -> dict[str, Any]:
    body = {"Id": target.target_id, "Arn": target.arn}
    if target.input is not None:
        body["Input"] = target.input
    return body


def _with_token(body: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token:
        body["NextToken"] = token
    return body
