"""`lambdalite schedule add|ls|rm`: scheduled rules through the EventBridge API, the same
calls `aws events put-rule` / `put-targets` make.

Built by `schedule_commands(api, console)` so that the commands share main's client and
error handling without importing main (which imports this module).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import click
from rich.console import Console
from rich.table import Table

# main's `_api(service)`: a client whose errors become one line on stderr and exit 1.
Api = Callable[[str], AbstractContextManager[Any]]
# main's `_fail(message)`: that line, and exit 1.
Fail = Callable[[str], Any]


def schedule_commands(api: Api, console: Console, fail: Fail) -> click.Group:
    @click.group("schedule")
    def schedule() -> None:
        """Run functions on a schedule (EventBridge rules: rate or cron, in UTC)."""

    @schedule.command("add")
    @click.argument("name")
    @click.option("--function", "function", required=True, help="Function name, ARN or name:alias.")
    @click.option("--rate", default=None, help='e.g. "5 minutes", "1 hour", "2 days".')
    @click.option("--cron", default=None, help='Six fields, e.g. "0 9 ? * MON-FRI *".')
    @click.option("--input", "payload", default=None, help="JSON sent instead of the event.")
    @click.option("--description", default=None, help="A note kept with the rule.")
    def add(
        name: str,
        function: str,
        rate: str | None,
        cron: str | None,
        payload: str | None,
        description: str | None,
    ) -> None:
        """Create (or replace) schedule NAME running FUNCTION."""
        if (rate is None) == (cron is None):
            raise click.UsageError("give exactly one of --rate and --cron")
        if payload is not None:
            try:
                json.loads(payload)
            except ValueError as exc:
                raise click.UsageError(f"--input is not JSON: {exc}") from None
        expression = _expression("rate", rate) if rate else _expression("cron", cron or "")
        with api("lambda") as lam:
            arn = lam.get_function_configuration(FunctionName=function)["FunctionArn"]
        with api("events") as events:
            existed = any(r["Name"] == name for r in events.list_rules(NamePrefix=name)["Rules"])
            rule: dict[str, Any] = {"Name": name, "ScheduleExpression": expression}
            if description:
                rule["Description"] = description
            rule_arn = events.put_rule(**rule)["RuleArn"]
            target: dict[str, Any] = {"Id": _target_id(arn), "Arn": arn}
            if payload is not None:
                target["Input"] = payload
            failed = events.put_targets(Rule=name, Targets=[target])
            if failed["FailedEntryCount"]:
                entry = failed["FailedEntries"][0]
                if not existed:  # leave nothing half made
                    events.delete_rule(Name=name)
                fail(f"{entry['ErrorCode']}: {entry['ErrorMessage']}")
        console.print(f"{rule_arn}: {expression} -> {arn}", markup=False, highlight=False)

    @schedule.command("ls")
    def list_schedules() -> None:
        """List schedules and the functions they run."""
        table = Table("name", "schedule", "state", "functions", "description")
        rows = 0
        with api("events") as events:
            for page in events.get_paginator("list_rules").paginate():
                for rule in page["Rules"]:
                    if "ScheduleExpression" not in rule:
                        continue
                    found = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
                    functions = ", ".join(t["Arn"].split(":function:", 1)[-1] for t in found)
                    table.add_row(
                        rule["Name"],
                        rule["ScheduleExpression"],
                        rule["State"],
                        functions or "-",
                        rule.get("Description", ""),
                    )
                    rows += 1
        console.print(table if rows else "no schedules")

    @schedule.command("rm")
    @click.argument("name")
    def remove(name: str) -> None:
        """Delete schedule NAME (its targets first, as EventBridge requires)."""
        with api("events") as events:
            events.describe_rule(Name=name)  # an unknown name is an error, not a no-op
            ids = [t["Id"] for t in events.list_targets_by_rule(Rule=name)["Targets"]]
            if ids:
                events.remove_targets(Rule=name, Ids=ids)
            events.delete_rule(Name=name)
        console.print(f"deleted schedule {name}", markup=False, highlight=False)

    return schedule


def _expression(kind: str, value: str) -> str:
    """`5 minutes` -> `rate(5 minutes)`; a full `rate(...)`/`cron(...)` passes as is."""
    value = value.strip()
    return value if value.startswith(f"{kind}(") else f"{kind}({value})"


def _target_id(function_arn: str) -> str:
    # Target ids allow [.-_A-Za-z0-9]{1,64}: the function name (and qualifier) fits.
    return function_arn.split(":function:", 1)[-1].replace(":", ".")[:64]
