"""RuleService: EventBridge's scheduled rules and their Lambda targets, with EventBridge's
rules and errors.

Only the default event bus, only ScheduleExpression rules (an EventPattern has no events
to match here), only Lambda functions of the rule's own account as targets, with an
optional constant Input. Anything else is refused by name rather than accepted and
silently never delivered.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from lambdalite.schedules.errors import (
    LimitExceededException,
    ResourceNotFoundException,
    ValidationException,
    rule_not_found,
)
from lambdalite.schedules.expression import parse_schedule
from lambdalite.schedules.model import (
    DEFAULT_BUS,
    Rule,
    RuleState,
    Target,
    function_target,
    rule_arn,
)
from lambdalite.schedules.store import RuleHasTargets, RuleStore, TooManyTargets

# "Amazon EventBridge quotas": targets per rule.
MAX_TARGETS = 5
DEFAULT_LIMIT = 100
# Target members that change what is delivered or how: refused, not ignored.
_UNSUPPORTED_TARGET_MEMBERS = (
    "InputPath",
    "InputTransformer",
    "KinesisParameters",
    "RunCommandParameters",
    "EcsParameters",
    "BatchParameters",
    "SqsParameters",
    "HttpParameters",
    "RedshiftDataParameters",
    "SageMakerPipelineParameters",
    "DeadLetterConfig",
    "RetryPolicy",
    "AppSyncParameters",
)


class RuleService:
    def __init__(
        self, store: RuleStore, region: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self.region = region
        self._clock = clock

    def arn(self, rule: Rule) -> str:
        return rule_arn(self.region, rule.account_id, rule.name)

    # -- rules ----------------------------------------------------------------------------
    def put_rule(self, account_id: str, p: dict[str, Any]) -> Rule:
        """PutRule, parameters by model name: create the rule or replace its settings.
        As on AWS, settings left out of an update are not kept ("If you omit arguments in
        PutRule, the old values for those arguments are not kept"); tags are merged."""
        self._check_bus(account_id, p.get("EventBusName"))
        if p.get("EventPattern"):
            raise ValidationException(
                "lambdalite supports scheduled rules only: EventPattern is not supported."
            )
        expression = p.get("ScheduleExpression")
        if not expression:
            raise ValidationException(
                "Parameter(s) EventPattern or ScheduleExpression must be specified."
            )
        schedule = parse_schedule(expression)
        state = RuleState(p.get("State", RuleState.ENABLED.value))
        current = self._store.get_rule(account_id, p["Name"])
        now = self._clock()
        created = current.created_at if current else now
        next_due = schedule.next_after(now, created) if state is RuleState.ENABLED else None
        rule = Rule(
            account_id=account_id,
            name=p["Name"],
            schedule_expression=expression,
            state=state,
            description=p.get("Description"),
            role_arn=p.get("RoleArn"),
            created_at=created,
            next_due_at=next_due,
            tags=_tags(p.get("Tags", [])),
        )
        self._store.put_rule(rule)
        if current is not None and p.get("Tags"):
            self._store.set_tags(account_id, rule.name, {**current.tags, **rule.tags})
        return rule

    def rule(self, account_id: str, name: str, bus: str | None = None) -> Rule:
        self._check_bus(account_id, bus)
        found = self._store.get_rule(account_id, name)
        if found is None:
            raise rule_not_found(name)
        return found

    def rules(
        self,
        account_id: str,
        prefix: str | None,
        token: str | None,
        limit: int | None,
        bus: str | None = None,
    ) -> tuple[list[Rule], str | None]:
        self._check_bus(account_id, bus)
        size = limit or DEFAULT_LIMIT
        found = self._store.list_rules(account_id, prefix, _after(token), size + 1)
        return found[:size], _token(found[size - 1].name) if len(found) > size else None

    def set_state(self, account_id: str, name: str, state: RuleState, bus: str | None) -> None:
        """EnableRule / DisableRule. Enabling starts the schedule from now: runs that fell
        due while it was disabled are not made up."""
        rule = self.rule(account_id, name, bus)
        if rule.state is state:
            return
        next_due = None
        if state is RuleState.ENABLED:
            next_due = parse_schedule(rule.schedule_expression).next_after(
                self._clock(), rule.created_at
            )
        if not self._store.set_state(account_id, name, state, next_due):
            raise rule_not_found(name)

    def delete_rule(self, account_id: str, name: str, bus: str | None) -> None:
        """DeleteRule: refused while the rule has targets; a missing rule is no error
        ("If you call delete rule multiple times for the same rule, all calls will
        succeed.")."""
        self._check_bus(account_id, bus)
        try:
            self._store.delete_rule(account_id, name)
        except RuleHasTargets:
            raise ValidationException("Rule can't be deleted since it has targets.") from None

    # -- targets --------------------------------------------------------------------------
    def put_targets(
        self, account_id: str, rule_name: str, given: Sequence[dict[str, Any]], bus: str | None
    ) -> list[dict[str, str]]:
        """PutTargets: store the acceptable targets; returns FailedEntries for the rest."""
        self.rule(account_id, rule_name, bus)
        now = self._clock()
        accepted: list[Target] = []
        failed: list[dict[str, str]] = []
        for item in given:
            problem = self._target_problem(account_id, item)
            if problem is not None:
                failed.append(
                    {
                        "TargetId": item["Id"],
                        "ErrorCode": "ValidationException",
                        "ErrorMessage": problem,
                    }
                )
                continue
            accepted.append(
                Target(account_id, rule_name, item["Id"], item["Arn"], item.get("Input"), now)
            )
        if accepted:
            try:
                self._store.put_targets(account_id, rule_name, accepted, MAX_TARGETS)
            except TooManyTargets:
                raise LimitExceededException(
                    "The requested resource exceeds the maximum number allowed."
                ) from None
        return failed

    def targets(
        self,
        account_id: str,
        rule_name: str,
        token: str | None,
        limit: int | None,
        bus: str | None = None,
    ) -> tuple[list[Target], str | None]:
        self.rule(account_id, rule_name, bus)
        found = self._store.targets(account_id, rule_name)
        after = _after(token)
        if after is not None:
            ids = [t.target_id for t in found]
            found = found[ids.index(after) + 1 :] if after in ids else []
        size = limit or DEFAULT_LIMIT
        more = len(found) > size
        return found[:size], _token(found[size - 1].target_id) if more else None

    def remove_targets(
        self, account_id: str, rule_name: str, ids: Sequence[str], bus: str | None
    ) -> None:
        self.rule(account_id, rule_name, bus)
        self._store.remove_targets(account_id, rule_name, ids)

    # -- tags -----------------------------------------------------------------------------
    def tags(self, account_id: str, arn: str) -> dict[str, str]:
        return self._rule_of_arn(account_id, arn).tags

    def tag(self, account_id: str, arn: str, tags: Sequence[dict[str, str]]) -> None:
        rule = self._rule_of_arn(account_id, arn)
        self._store.set_tags(account_id, rule.name, {**rule.tags, **_tags(tags)})

    def untag(self, account_id: str, arn: str, keys: Sequence[str]) -> None:
        rule = self._rule_of_arn(account_id, arn)
        kept = {k: v for k, v in rule.tags.items() if k not in keys}
        self._store.set_tags(account_id, rule.name, kept)

    # -- helpers --------------------------------------------------------------------------
    def _rule_of_arn(self, account_id: str, arn: str) -> Rule:
        prefix = f"arn:aws:events:{self.region}:{account_id}:rule/"
        if not arn.startswith(prefix):
            # Another account's or region's rule is "not found", never "forbidden".
            raise ResourceNotFoundException(f"Resource {arn} does not exist.")
        name = arn[len(prefix) :]
        found = self._store.get_rule(account_id, name)
        if found is None:
            raise rule_not_found(name)
        return found

    def _check_bus(self, account_id: str, bus: str | None) -> None:
        default_arn = f"arn:aws:events:{self.region}:{account_id}:event-bus/{DEFAULT_BUS}"
        if bus not in (None, DEFAULT_BUS, default_arn):
            raise ResourceNotFoundException(f"Event bus {bus} does not exist.")

    def _target_problem(self, account_id: str, item: dict[str, Any]) -> str | None:
        arn = item["Arn"]
        found = function_target(arn)
        if found is None:
            return (
                f"lambdalite delivers schedules to Lambda functions only; {arn} is not a "
                "Lambda function ARN."
            )
        if found.region != self.region or found.account_id != account_id:
            return f"The function {arn} is not in this account and region."
        unsupported = [m for m in _UNSUPPORTED_TARGET_MEMBERS if item.get(m)]
        if unsupported:
            return f"lambdalite does not support {', '.join(unsupported)} on targets."
        if "Input" in item:
            try:
                json.loads(item["Input"])
            except ValueError:
                return "Input is not valid JSON text."
        return None


def _tags(tags: Sequence[dict[str, str]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags}


def _token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _after(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationException("The NextToken is not valid.") from None
