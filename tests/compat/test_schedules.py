"""Scheduled rules through `boto3.client("events")` and `lambdalite schedule`: the API
subset, EventBridge's errors, firings delivered through the async path with the
Scheduled Event shape, and a restart that neither loses nor repeats a run.

The servers here run neither the scheduler's loop nor async delivery on their own:
tests drive `run_once(now=...)` on the server's event loop, so time moves by hand.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.compat.test_async_invoke import deliver, new_queue, on, records
from tests.compat.test_cli_queues import row
from tests.compat.test_functions import error_of
from tests.conftest import create, make_zip
from tests.support.cli import Env, cli_env, one_line_error, run, succeeded
from tests.support.servers import RunningServer, start_server

runs = pytest.mark.sandbox  # the tests that run functions need real sandboxes

ECHO = "def handler(event, context):\n    return {'got': event}\n"
INVALID = "Parameter ScheduleExpression is not valid."


@pytest.fixture(scope="module")
def sserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("schedules"),
        async_poll_interval_seconds=0,
        schedule_poll_interval_seconds=0,
    )
    yield running
    running.stop()


@pytest.fixture
def events(sserver: RunningServer) -> Any:
    return sserver.client("events")


@pytest.fixture
def lam(sserver: RunningServer) -> Any:
    return sserver.client()


@pytest.fixture
def account(sserver: RunningServer) -> str:
    return sserver.platform.root.account.account_id


@pytest.fixture
def rule() -> str:
    return f"rule-{uuid.uuid4().hex[:10]}"


def fire(server: RunningServer, now: float) -> int:
    """One scheduler pass at `now`, as the server's BackgroundLoop would run it."""
    schedules = server.platform.schedules
    loop = server.platform.engine._loop
    assert schedules is not None and loop is not None
    future = asyncio.run_coroutine_threadsafe(schedules.scheduler.run_once(now=now), loop)
    return future.result(timeout=60)


def queued(server: RunningServer) -> int:
    assert server.platform.async_invocations is not None
    return server.platform.async_invocations.events.count()


def function_arn(account: str, name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{account}:function:{name}"


# -- the API ------------------------------------------------------------------------------
def test_rules_are_created_described_listed_switched_and_deleted(
    events: Any, account: str, rule: str
) -> None:
    arn = events.put_rule(
        Name=rule, ScheduleExpression="rate(5 minutes)", Description="every five"
    )["RuleArn"]
    assert arn == f"arn:aws:events:us-east-1:{account}:rule/{rule}"
    described = events.describe_rule(Name=rule)
    del described["ResponseMetadata"]
    assert described == {
        "Name": rule,
        "Arn": arn,
        "ScheduleExpression": "rate(5 minutes)",
        "State": "ENABLED",
        "Description": "every five",
        "EventBusName": "default",
        "CreatedBy": account,
    }
    events.disable_rule(Name=rule)
    assert events.describe_rule(Name=rule)["State"] == "DISABLED"
    events.enable_rule(Name=rule, EventBusName="default")
    assert events.describe_rule(Name=rule)["State"] == "ENABLED"
    # PutRule on an existing rule replaces it: what is left out is not kept.
    events.put_rule(Name=rule, ScheduleExpression="cron(0 12 * * ? *)", State="DISABLED")
    replaced = events.describe_rule(Name=rule)
    assert (replaced["ScheduleExpression"], replaced["State"]) == ("cron(0 12 * * ? *)", "DISABLED")
    assert "Description" not in replaced

    target = {"Id": "main", "Arn": function_arn(account, "anything")}
    assert events.put_targets(Rule=rule, Targets=[target])["FailedEntryCount"] == 0
    with pytest.raises(ClientError) as has_targets:
        events.delete_rule(Name=rule)
    assert error_of(has_targets) == (
        "ValidationException",
        "Rule can't be deleted since it has targets.",
        400,
    )
    removed = events.remove_targets(Rule=rule, Ids=["main"])
    assert removed["FailedEntryCount"] == 0
    events.delete_rule(Name=rule)
    with pytest.raises(ClientError) as gone:
        events.describe_rule(Name=rule)
    assert error_of(gone) == (
        "ResourceNotFoundException",
        f"Rule {rule} does not exist on EventBus default.",
        400,
    )
    events.delete_rule(Name=rule)  # deleting again succeeds, as AWS documents


def test_list_rules_by_prefix_in_pages(events: Any) -> None:
    prefix = f"page-{uuid.uuid4().hex[:6]}-"
    names = [f"{prefix}{n}" for n in range(5)]
    for name in names:
        events.put_rule(Name=name, ScheduleExpression="rate(1 day)")
    first = events.list_rules(NamePrefix=prefix, Limit=2)
    assert [r["Name"] for r in first["Rules"]] == names[:2]
    assert first["Rules"][0]["EventBusName"] == "default"
    pages = events.get_paginator("list_rules").paginate(
        NamePrefix=prefix, PaginationConfig={"PageSize": 2}
    )
    assert [r["Name"] for page in pages for r in page["Rules"]] == names
    assert "NextToken" not in events.list_rules(NamePrefix=prefix, Limit=5)


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(30 seconds)",
        "cron(0 12 * * * *)",
        "cron(0 12 ? * ? *)",
        "cron(0 12 * *)",
        "cron(61 * * * ? *)",
        "cron(0 0 ? * 3#1,6#3 *)",
        "every day",
    ],
)
def test_invalid_schedules_are_refused_and_create_nothing(
    events: Any, rule: str, expression: str
) -> None:
    with pytest.raises(ClientError) as excinfo:
        events.put_rule(Name=rule, ScheduleExpression=expression)
    assert error_of(excinfo) == ("ValidationException", INVALID, 400)
    with pytest.raises(ClientError) as missing:
        events.describe_rule(Name=rule)
    assert error_of(missing)[0] == "ResourceNotFoundException"


def test_only_scheduled_rules_on_the_default_bus(events: Any, rule: str) -> None:
    with pytest.raises(ClientError) as pattern:
        events.put_rule(Name=rule, EventPattern='{"source": ["aws.s3"]}')
    assert error_of(pattern)[0] == "ValidationException"
    with pytest.raises(ClientError) as neither:
        events.put_rule(Name=rule)
    assert error_of(neither) == (
        "ValidationException",
        "Parameter(s) EventPattern or ScheduleExpression must be specified.",
        400,
    )
    with pytest.raises(ClientError) as bus:
        events.put_rule(Name=rule, ScheduleExpression="rate(1 day)", EventBusName="orders")
    assert error_of(bus) == ("ResourceNotFoundException", "Event bus orders does not exist.", 400)


def test_targets_other_than_own_functions_are_failed_entries(
    events: Any, account: str, rule: str
) -> None:
    events.put_rule(Name=rule, ScheduleExpression="rate(1 hour)")
    result = events.put_targets(
        Rule=rule,
        Targets=[
            {"Id": "ok", "Arn": function_arn(account, "report"), "Input": '{"a": 1}'},
            {"Id": "queue", "Arn": f"arn:aws:sqs:us-east-1:{account}:jobs"},
            {"Id": "elsewhere", "Arn": function_arn("999999999999", "report")},
            {"Id": "bad-input", "Arn": function_arn(account, "report"), "Input": "{nope"},
            {
                "Id": "transformed",
                "Arn": function_arn(account, "report"),
                "InputTransformer": {"InputTemplate": '{"t": <time>}'},
            },
        ],
    )
    assert result["FailedEntryCount"] == 4
    failed = {e["TargetId"]: e for e in result["FailedEntries"]}
    assert set(failed) == {"queue", "elsewhere", "bad-input", "transformed"}
    assert all(e["ErrorCode"] == "ValidationException" for e in failed.values())
    assert "Lambda functions only" in failed["queue"]["ErrorMessage"]
    assert "InputTransformer" in failed["transformed"]["ErrorMessage"]
    listed = events.list_targets_by_rule(Rule=rule)["Targets"]
    assert listed == [{"Id": "ok", "Arn": function_arn(account, "report"), "Input": '{"a": 1}'}]
    more = [{"Id": f"t{n}", "Arn": function_arn(account, f"f{n}")} for n in range(5)]
    with pytest.raises(ClientError) as too_many:
        events.put_targets(Rule=rule, Targets=more)
    assert error_of(too_many)[0] == "LimitExceededException"
    assert len(events.list_targets_by_rule(Rule=rule)["Targets"]) == 1
    with pytest.raises(ClientError) as no_rule:
        events.put_targets(Rule=f"{rule}-x", Targets=more[:1])
    assert error_of(no_rule)[0] == "ResourceNotFoundException"


def test_rules_take_tags(events: Any, rule: str) -> None:
    arn = events.put_rule(
        Name=rule, ScheduleExpression="rate(1 day)", Tags=[{"Key": "team", "Value": "ops"}]
    )["RuleArn"]
    events.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "prod"}])
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "env", "Value": "prod"},
        {"Key": "team", "Value": "ops"},
    ]
    events.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "env", "Value": "prod"}
    ]
    with pytest.raises(ClientError) as other:
        events.list_tags_for_resource(ResourceARN=arn.replace(rule, f"{rule}-none"))
    assert error_of(other)[0] == "ResourceNotFoundException"


# -- firing -------------------------------------------------------------------------------
@runs
def test_a_firing_invokes_the_function_asynchronously_with_the_scheduled_event(
    sserver: RunningServer, events: Any, lam: Any, account: str, rule: str, name: str
) -> None:
    create(lam, name, Code={"ZipFile": make_zip({"app.py": ECHO})})
    sqs = sserver.client("sqs")
    url, queue = new_queue(sqs, account)
    lam.put_function_event_invoke_config(FunctionName=name, **on("OnSuccess", queue))
    before = time.time()
    rule_arn = events.put_rule(Name=rule, ScheduleExpression="rate(1 minute)")["RuleArn"]
    after = time.time()
    events.put_targets(
        Rule=rule,
        Targets=[
            {"Id": "plain", "Arn": function_arn(account, name)},
            {"Id": "fixed", "Arn": function_arn(account, name), "Input": '{"report": "daily"}'},
        ],
    )
    assert fire(sserver, before + 59) == 0, "not due before one period has passed"
    assert fire(sserver, after + 61) == 1
    assert fire(sserver, after + 61) == 0, "one due time fires once"
    assert queued(sserver) == 2, "accepted into the durable async queue, not yet run"
    assert deliver(sserver, after + 62) == 2
    by_payload = {json.dumps(r["requestPayload"], sort_keys=True): r for r in records(sqs, url)}
    fixed = by_payload.pop('{"report": "daily"}')
    assert fixed["responsePayload"] == {"got": {"report": "daily"}}
    ((_, plain),) = by_payload.items()
    event = plain["requestPayload"]
    assert list(event) == [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    ]
    assert event["version"] == "0"
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", event["id"]
    )
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["account"] == account
    due = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(before) + 60))
    due_late = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(after) + 60))
    assert event["time"] in (due, due_late)  # the due time, to the second
    assert event["region"] == "us-east-1"
    assert event["resources"] == [rule_arn]
    assert event["detail"] == {}
    assert plain["responsePayload"] == {"got": event}
    assert plain["requestContext"]["condition"] == "Success"


def test_a_restart_neither_loses_nor_repeats_a_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    quiet = {"async_poll_interval_seconds": 0, "schedule_poll_interval_seconds": 0}
    first = start_server(data, **quiet)
    try:
        lam, events = first.client(), first.client("events")
        account = first.platform.root.account.account_id
        create(lam, "hourly-job")
        created = time.time()
        events.put_rule(Name="hourly", ScheduleExpression="rate(1 hour)")
        events.put_targets(
            Rule="hourly", Targets=[{"Id": "job", "Arn": function_arn(account, "hourly-job")}]
        )
        due = created + 3601
        assert fire(first, due) == 1
        assert queued(first) == 1
    finally:
        first.stop()
    second = start_server(data, **quiet)
    try:
        assert fire(second, due) == 0, "the run fired before the restart is not repeated"
        assert queued(second) == 1, "and the event it queued survived"
        # Down for ten hours: the missed runs fire once, not ten times.
        assert fire(second, created + 11 * 3600 + 5) == 1
        assert fire(second, created + 11 * 3600 + 5) == 0
        assert queued(second) == 2
    finally:
        second.stop()


# -- the CLI ------------------------------------------------------------------------------
@pytest.fixture
def env(sserver: RunningServer, tmp_path: Path) -> Env:
    return cli_env(sserver.endpoint, tmp_path)


def test_cli_adds_lists_and_removes_schedules(
    env: Env, events: Any, lam: Any, account: str, rule: str, name: str
) -> None:
    create(lam, name)
    added = succeeded(
        run(env, "schedule", "add", rule, "--function", name, "--cron", "0 3 * * ? *")
    )
    assert added == (
        f"arn:aws:events:us-east-1:{account}:rule/{rule}: cron(0 3 * * ? *) -> "
        f"{function_arn(account, name)}"
    )
    assert events.describe_rule(Name=rule)["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert events.list_targets_by_rule(Rule=rule)["Targets"] == [
        {"Id": name, "Arn": function_arn(account, name)}
    ]
    succeeded(
        run(
            env,
            "schedule",
            "add",
            rule,
            "--function",
            name,
            "--rate",
            "5 minutes",
            "--input",
            '{"a": 1}',
        )
    )
    (target,) = events.list_targets_by_rule(Rule=rule)["Targets"]
    assert (target["Input"], events.describe_rule(Name=rule)["ScheduleExpression"]) == (
        '{"a": 1}',
        "rate(5 minutes)",
    )
    listing = run(env, "schedule", "ls")
    succeeded(listing)
    assert row(listing.stdout, rule)[:4] == [rule, "rate(5 minutes)", "ENABLED", name]

    bad = run(env, "schedule", "add", f"{rule}-bad", "--function", name, "--cron", "0 3 * * *")
    assert one_line_error(bad) == f"error: ValidationException: {INVALID}"
    missing = run(env, "schedule", "add", f"{rule}-x", "--function", f"{name}-x", "--rate", "1 day")
    assert one_line_error(missing).startswith(
        "error: ResourceNotFoundException: Function not found"
    )
    assert events.list_rules(NamePrefix=f"{rule}-")["Rules"] == [], "nothing half made"

    assert succeeded(run(env, "schedule", "rm", rule)) == f"deleted schedule {rule}"
    with pytest.raises(ClientError):
        events.describe_rule(Name=rule)
    again = run(env, "schedule", "rm", rule)
    assert one_line_error(again) == (
        f"error: ResourceNotFoundException: Rule {rule} does not exist on EventBus default."
    )
