"""The records of schedules: a scheduled rule and its targets."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_BUS = "default"
_LAMBDA_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[a-zA-Z0-9_-]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]{1,128}))?$"
)


class RuleState(StrEnum):
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"


@dataclass(frozen=True)
class Rule:
    account_id: str
    name: str
    schedule_expression: str
    state: RuleState
    description: str | None
    role_arn: str | None
    created_at: float
    next_due_at: float | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    account_id: str
    rule_name: str
    target_id: str
    arn: str  # arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]
    input: str | None  # JSON text sent verbatim instead of the Scheduled Event
    added_at: float


def rule_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account_id}:rule/{name}"


@dataclass(frozen=True)
class FunctionTarget:
    """A target ARN taken apart: the function it names."""

    region: str
    account_id: str
    name: str
    qualifier: str | None


def function_target(arn: str) -> FunctionTarget | None:
    """The function a Lambda function ARN names, or None for any other ARN."""
    found = _LAMBDA_ARN.match(arn)
    if found is None:
        return None
    return FunctionTarget(found["region"], found["account"], found["name"], found["qualifier"])
