"""The CloudWatch Logs API, driven by boto3's logs client and the AWS CLI (`aws logs`).

Lines reach the store the way the server stores them (its LogWriter) or, where a test
needs timestamps in the past, straight into the store; one test runs real functions.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdalite.logs import service as log_service
from lambdalite.logs.retention import DAY_MS, RetentionReaper
from lambdalite.logs.service import RETENTION_DAYS
from lambdalite.settings import LogLimits
from lambdalite.store.logs import LogStore
from tests.conftest import create, make_zip
from tests.support.logs import STREAM, flush, invocation_log, put_events, submit
from tests.support.servers import ROOT_KEY, ROOT_SECRET, RunningServer, start_server

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture
def logs(server: RunningServer) -> Any:
    return server.client("logs")


@pytest.fixture
def group(name: str) -> str:
    return f"/aws/lambda/{name}"


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def messages(events: list[dict[str, Any]]) -> list[str]:
    return [e["message"] for e in events]


def every_event(logs: Any, **params: Any) -> list[dict[str, Any]]:
    pages = logs.get_paginator("filter_log_events").paginate(**params)
    return [event for page in pages for event in page["events"]]


# -- reading what functions printed -----------------------------------------------------------

PRINTS = """
def handler(event, context):
    print("hello from", event["n"])
    print("[ERROR] something broke" if event["n"] == 2 else "all good")
    return context.aws_request_id
"""


def test_boto3_reads_what_handlers_printed(
    server: RunningServer, lam: Any, logs: Any, name: str, group: str, account: str
) -> None:
    create(lam, name, Code={"ZipFile": make_zip({"app.py": PRINTS})})
    ids = [
        json.loads(lam.invoke(FunctionName=name, Payload=json.dumps({"n": n}))["Payload"].read())
        for n in (1, 2)
    ]
    flush(server)

    (described,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert described["logGroupName"] == group
    assert described["arn"] == f"arn:aws:logs:us-east-1:{account}:log-group:{group}:*"
    assert described["logGroupArn"] == described["arn"].removesuffix(":*")
    assert described["storedBytes"] > 0
    assert "retentionInDays" not in described, "events never expire by default, as on AWS"

    (stream,) = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", stream["logStreamName"])
    assert stream["firstEventTimestamp"] <= stream["lastEventTimestamp"]
    assert stream["lastIngestionTime"] >= stream["lastEventTimestamp"]

    lines = messages(
        logs.get_log_events(
            logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True
        )["events"]
    )
    first = lines.index(f"START RequestId: {ids[0]} Version: $LATEST\n")
    assert lines[first + 1 : first + 4] == [
        "hello from 1\n",
        "all good\n",
        f"END RequestId: {ids[0]}\n",
    ]
    assert lines[first + 4].startswith(f"REPORT RequestId: {ids[0]}\tDuration: ")

    errors = every_event(logs, logGroupName=group, filterPattern='"[ERROR]"')
    assert messages(errors) == ["[ERROR] something broke\n"]
    assert errors[0]["logStreamName"] == stream["logStreamName"]


def test_a_flooding_function_is_capped_and_says_so(tmp_path: Path) -> None:
    running = start_server(tmp_path / "data", log_limits=LogLimits(1_000, 10_000))
    try:
        lam, logs = running.client(), running.client("logs")
        source = "def handler(event, context):\n    for i in range(5000):\n        print(i)\n"
        create(lam, "flood", Code={"ZipFile": make_zip({"app.py": source})})
        lam.invoke(FunctionName="flood")
        flush(running)
        lines = messages(every_event(logs, logGroupName="/aws/lambda/flood"))
    finally:
        running.stop()
    marker = next(line for line in lines if line.startswith("[lambdalite] log flood:"))
    assert re.match(r"\[lambdalite\] log flood: \d+ lines \(\d+ bytes\) of output dropped", marker)
    start = next(i for i, line in enumerate(lines) if line.startswith("START RequestId: "))
    assert lines[start + 1 : start + 4] == ["0\n", "1\n", "2\n"], "the first lines stay"
    assert lines[-2].startswith("END RequestId: ")
    assert lines[-1].startswith("REPORT RequestId: ")


# -- groups -----------------------------------------------------------------------------------


def test_groups_are_listed_in_ascii_order_and_paged(logs: Any) -> None:
    prefix = f"/test/{uuid.uuid4().hex[:8]}/"
    names = [prefix + suffix for suffix in ("b", "A", "a", "C", "c-2", "c.1", "Z")]
    for group_name in names:
        logs.create_log_group(logGroupName=group_name)
    pages = list(
        logs.get_paginator("describe_log_groups").paginate(
            logGroupNamePrefix=prefix, PaginationConfig={"PageSize": 2}
        )
    )
    assert [len(p["logGroups"]) for p in pages] == [2, 2, 2, 1]
    listed = [g["logGroupName"] for p in pages for g in p["logGroups"]]
    assert listed == sorted(names)  # ASCII: upper case first, then "-" < "." < letters
    assert [
        g["logGroupName"]
        for g in logs.describe_log_groups(logGroupNamePrefix=prefix + "c")["logGroups"]
    ] == [prefix + "c-2", prefix + "c.1"], "prefixes are case-sensitive"
    brief = logs.describe_log_groups(logGroupNamePattern=prefix.strip("/") + "/c")["logGroups"]
    assert [set(g) for g in brief] == [{"logGroupName", "creationTime", "arn"}] * 2


def test_creating_an_existing_group_or_deleting_a_missing_one_fails_as_on_aws(
    logs: Any, group: str
) -> None:
    logs.create_log_group(logGroupName=group)
    with pytest.raises(logs.exceptions.ResourceAlreadyExistsException) as exists:
        logs.create_log_group(logGroupName=group)
    assert error_of(exists) == (
        "ResourceAlreadyExistsException",
        "The specified log group already exists",
        400,
    )
    logs.delete_log_group(logGroupName=group)
    with pytest.raises(logs.exceptions.ResourceNotFoundException) as missing:
        logs.delete_log_group(logGroupName=group)
    assert error_of(missing) == (
        "ResourceNotFoundException",
        "The specified log group does not exist.",
        400,
    )


def test_deleting_a_group_deletes_its_events_and_new_lines_bring_it_back(
    server: RunningServer, logs: Any, group: str, account: str
) -> None:
    submit(server, account, group, STREAM, invocation_log("r1", "before"))
    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    submit(server, account, group, STREAM, invocation_log("r2", "after"))
    assert "after\n" in messages(every_event(logs, logGroupName=group))
    assert "before\n" not in messages(every_event(logs, logGroupName=group))


def test_an_account_sees_only_its_own_groups(
    server: RunningServer, logs: Any, group: str, account: str, name: str
) -> None:
    submit(server, account, group, STREAM, invocation_log("r1", "secret"))
    other_account, key = server.platform.accounts.create(f"logs-{name}")
    other = server.client("logs", key=key.access_key_id, secret=key.secret_access_key)
    assert other.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    arn = f"arn:aws:logs:us-east-1:{account}:log-group:{group}"  # logGroupArn: no ":*"
    for where in ({"logGroupName": group}, {"logGroupIdentifier": arn}):
        with pytest.raises(ClientError) as excinfo:
            other.filter_log_events(**where)
        assert error_of(excinfo)[0] == "ResourceNotFoundException"
        with pytest.raises(ClientError) as excinfo:
            other.get_log_events(logStreamName=STREAM, **where)
        assert error_of(excinfo)[0] == "ResourceNotFoundException"
    # The owner may name the group by its ARN.
    assert "secret\n" in messages(every_event(logs, logGroupIdentifier=arn))
    (listed,) = logs.describe_log_groups(logGroupIdentifiers=[arn])["logGroups"]
    assert listed["logGroupName"] == group
    assert other.describe_log_groups(logGroupIdentifiers=[arn])["logGroups"] == []
    # The other account's group of the same name is its own.
    other.create_log_group(logGroupName=group)
    assert messages(every_event(other, logGroupName=group)) == []
    assert other_account.account_id != account


# -- retention --------------------------------------------------------------------------------


def test_retention_is_set_shown_refused_when_not_aws_s_and_removed(logs: Any, group: str) -> None:
    logs.create_log_group(logGroupName=group)
    logs.put_retention_policy(logGroupName=group, retentionInDays=14)
    (described,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert described["retentionInDays"] == 14
    with pytest.raises(logs.exceptions.InvalidParameterException) as invalid:
        logs.put_retention_policy(logGroupName=group, retentionInDays=2)
    code, message, status = error_of(invalid)
    assert (code, status) == ("InvalidParameterException", 400)
    assert message.startswith("1 validation error detected: Value '2' at 'retentionInDays'")
    assert "[1, 3, 5, 7, 14, 30," in message and message.endswith("3288, 3653]")
    logs.delete_retention_policy(logGroupName=group)
    (described,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert "retentionInDays" not in described
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.put_retention_policy(logGroupName=group + "-missing", retentionInDays=1)
    assert len(RETENTION_DAYS) == 22


def test_retention_deletes_old_events_and_nothing_else(
    server: RunningServer, logs: Any, group: str, account: str
) -> None:
    now = T0 + 30 * DAY_MS
    put_events(server, account, group, "old", [(T0, "old a\n"), (T0 + 1, "old b\n")])
    put_events(server, account, group, "mixed", [(T0, "expired\n"), (now - DAY_MS, "recent\n")])
    put_events(server, account, group + "-kept", "s", [(T0, "no policy here\n")])
    logs.put_retention_policy(logGroupName=group, retentionInDays=7)

    reaper = RetentionReaper(LogStore(server.platform.db), clock_ms=lambda: now)
    deleted = _run(server, reaper)

    assert deleted == 3
    assert messages(every_event(logs, logGroupName=group)) == ["recent\n"]
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["mixed"], "the emptied stream went"
    assert streams[0]["firstEventTimestamp"] == now - DAY_MS
    assert messages(every_event(logs, logGroupName=group + "-kept")) == ["no policy here\n"]


def _run(server: RunningServer, reaper: RetentionReaper) -> int:
    engine = server.platform.engine
    assert engine._loop is not None
    deleted: int = asyncio.run_coroutine_threadsafe(reaper.run_once(), engine._loop).result(30)
    return deleted


# -- streams ----------------------------------------------------------------------------------


def test_streams_by_name_or_last_event_time_with_paging(
    server: RunningServer, logs: Any, group: str, account: str
) -> None:
    for name, at in (("b", T0 + 3), ("a", T0 + 1), ("c", T0 + 2)):
        put_events(server, account, group, name, [(at - 1, "x\n"), (at, "y\n")])
    pages = logs.get_paginator("describe_log_streams").paginate(
        logGroupName=group, PaginationConfig={"PageSize": 1}
    )
    assert [s["logStreamName"] for p in pages for s in p["logStreams"]] == ["a", "b", "c"]
    latest = logs.describe_log_streams(
        logGroupName=group, orderBy="LastEventTime", descending=True, limit=2
    )
    assert [s["logStreamName"] for s in latest["logStreams"]] == ["b", "c"]
    rest = logs.describe_log_streams(
        logGroupName=group, orderBy="LastEventTime", descending=True, nextToken=latest["nextToken"]
    )
    assert [s["logStreamName"] for s in rest["logStreams"]] == ["a"]
    (b,) = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="b")["logStreams"]
    assert (b["firstEventTimestamp"], b["lastEventTimestamp"]) == (T0 + 2, T0 + 3)
    assert b["storedBytes"] == 0, "AWS reports 0 for streams since 2019"
    assert b["arn"].endswith(f":log-group:{group}:log-stream:b")
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.describe_log_streams(
            logGroupName=group, orderBy="LastEventTime", logStreamNamePrefix="b"
        )
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.describe_log_streams(logGroupName=group + "-missing")


# -- GetLogEvents -----------------------------------------------------------------------------


def test_get_log_events_pages_both_ways_and_hands_back_the_same_token_at_the_end(
    server: RunningServer, logs: Any, group: str, account: str
) -> None:
    put_events(server, account, group, "s", [(T0 + i, f"{i}\n") for i in range(25)])
    where = {"logGroupName": group, "logStreamName": "s", "limit": 10}

    tail = logs.get_log_events(**where)  # the default: the newest events, oldest first
    assert messages(tail["events"]) == [f"{i}\n" for i in range(15, 25)]
    assert re.fullmatch(r"f/\d+", tail["nextForwardToken"])
    assert re.fullmatch(r"b/\d+", tail["nextBackwardToken"])
    back = logs.get_log_events(**where, nextToken=tail["nextBackwardToken"])
    assert messages(back["events"]) == [f"{i}\n" for i in range(5, 15)]
    back = logs.get_log_events(**where, nextToken=back["nextBackwardToken"])
    assert messages(back["events"]) == [f"{i}\n" for i in range(5)]
    end = logs.get_log_events(**where, nextToken=back["nextBackwardToken"])
    assert end["events"] == []
    assert end["nextBackwardToken"] == back["nextBackwardToken"]

    head = logs.get_log_events(**where, startFromHead=True)
    assert messages(head["events"]) == [f"{i}\n" for i in range(10)]
    token = head["nextForwardToken"]
    seen = messages(head["events"])
    while True:  # how followers read: until the token comes back unchanged
        page = logs.get_log_events(**where, startFromHead=True, nextToken=token)
        if page["nextForwardToken"] == token:
            break
        seen += messages(page["events"])
        token = page["nextForwardToken"]
    assert seen == [f"{i}\n" for i in range(25)]
    put_events(server, account, group, "s", [(T0 + 100, "new\n")])
    later = logs.get_log_events(**where, startFromHead=True, nextToken=token)
    assert messages(later["events"]) == ["new\n"]


def test_get_log_events_time_range_is_start_inclusive_end_exclusive(
    server: RunningServer, logs: Any, group: str, account: str
) -> None:
    put_events(server, account, group, "s", [(T0 + i, f"{i}\n") for i in range(10)])
    page = logs.get_log_events(
        logGroupName=group, logStreamName="s", startTime=T0 + 3, endTime=T0 + 6, startFromHead=True
    )
    assert messages(page["events"]) == ["3\n", "4\n", "5\n"]
    assert {e["timestamp"] for e in page["events"]} == {T0 + 3, T0 + 4, T0 + 5}
    assert all("ingestionTime" in e for e in page["events"])


def test_a_page_holds_at_most_one_megabyte(
    server: RunningServer, logs: Any, group: str, account: str
) -> None:
    big = [(T0 + i, f"{i}" + "x" * 400_000 + "\n") for i in range(3)]
    put_events(server, account, group, "s", big)
    first = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)
    assert len(first["events"]) == 2
    second = logs.get_log_events(
        logGroupName=group, logStreamName="s", nextToken=first["nextForwardToken"]
    )
    assert [e["message"][0] for e in second["events"]] == ["2"]


def test_get_log_events_errors(server: RunningServer, logs: Any, group: str, account: str) -> None:
    put_events(server, account, group, "s", [(T0, "x\n")])
    with pytest.raises(logs.exceptions.ResourceNotFoundException) as no_stream:
        logs.get_log_events(logGroupName=group, logStreamName="nope")
    assert error_of(no_stream)[1] == "The specified log stream does not exist."
    with pytest.raises(logs.exceptions.ResourceNotFoundException) as no_group:
        logs.get_log_events(logGroupName=group + "-nope", logStreamName="s")
    assert error_of(no_group)[1] == "The specified log group does not exist."
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.get_log_events(logGroupName=group, logStreamName="s", nextToken="f/garbage")
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.get_log_events(logGroupName="has spaces", logStreamName="s")


# -- FilterLogEvents --------------------------------------------------------------------------


def test_filter_interleaves_streams_in_time_order_and_pages(
    server: RunningServer, logs: Any, group: str, account: str
) -> None:
    put_events(server, account, group, "a", [(T0 + i, f"a{i}\n") for i in range(0, 20, 2)])
    put_events(server, account, group, "b", [(T0 + i, f"b{i}\n") for i in range(1, 20, 2)])
    pages = list(
        logs.get_paginator("filter_log_events").paginate(
            logGroupName=group, PaginationConfig={"PageSize": 7}
        )
    )
    assert [len(p["events"]) for p in pages] == [7, 7, 6]
    events = [e for p in pages for e in p["events"]]
    assert messages(events) == [f"{'ab'[i % 2]}{i}\n" for i in range(20)]
    assert [e["logStreamName"] for e in events[:2]] == ["a", "b"]
    assert len({e["eventId"] for e in events}) == 20
    assert all(p["searchedLogStreams"] == [] for p in pages), "as AWS since 2020"
    newest_first = logs.filter_log_events(logGroupName=group, startFromHead=False, limit=3)
    assert messages(newest_first["events"]) == ["b19\n", "a18\n", "b17\n"]


def test_filter_patterns_terms_phrases_alternatives_and_exclusions(
    server: RunningServer, logs: Any, group: str, account: str
) -> None:
    lines = [
        "[ERROR] db timeout after 3 s",
        "[WARN] retrying",
        "[ERROR] Debug dump",
        "Task timed out after 3.00 seconds",
        "error in lower case",
    ]
    put_events(server, account, group, "s", [(T0 + i, f"{m}\n") for i, m in enumerate(lines)])

    def found(pattern: str) -> list[str]:
        return [
            m.rstrip("\n")
            for m in messages(every_event(logs, logGroupName=group, filterPattern=pattern))
        ]

    assert found("ERROR") == [lines[0], lines[2]]
    assert found("ERROR timeout") == [lines[0]]
    assert found('"Task timed out"') == [lines[3]]
    assert found("?WARN ?Task") == [lines[1], lines[3]]
    assert found("ERROR -Debug") == [lines[0]]
    assert found("") == lines
    with pytest.raises(logs.exceptions.InvalidParameterException) as json_pattern:
        logs.filter_log_events(logGroupName=group, filterPattern='{ $.level = "ERROR" }')
    assert "JSON filter patterns" in error_of(json_pattern)[1]


def test_filter_by_streams_and_time(
    server: RunningServer, logs: Any, group: str, account: str
) -> None:
    for stream in ("app-1", "app-2", "other"):
        put_events(server, account, group, stream, [(T0 + i, f"{stream} {i}\n") for i in range(5)])
    named = every_event(
        logs, logGroupName=group, logStreamNames=["app-2", "other"], startTime=T0 + 4
    )
    assert messages(named) == ["app-2 4\n", "other 4\n"]
    prefixed = every_event(
        logs, logGroupName=group, logStreamNamePrefix="app-", startTime=T0 + 1, endTime=T0 + 2
    )
    assert messages(prefixed) == ["app-1 1\n", "app-2 1\n", "app-1 2\n", "app-2 2\n"]
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.filter_log_events(logGroupName=group, logStreamNames=["a"], logStreamNamePrefix="a")


def test_a_rare_match_in_a_big_group_is_found_across_partial_pages(
    server: RunningServer,
    logs: Any,
    group: str,
    account: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(log_service, "SCAN_BUDGET", 50)  # one page looks at 50 events
    events = [(T0 + i, "needle\n" if i in (3, 120, 199) else "hay\n") for i in range(200)]
    put_events(server, account, group, "s", events)
    pages = list(
        logs.get_paginator("filter_log_events").paginate(logGroupName=group, filterPattern="needle")
    )
    assert len(pages) == 4
    assert [len(p["events"]) for p in pages] == [1, 0, 1, 1], "a page may be partial, even empty"
    assert [e["timestamp"] for p in pages for e in p["events"]] == [T0 + 3, T0 + 120, T0 + 199]


# -- the AWS CLI ------------------------------------------------------------------------------

AWS = Path(sys.executable).with_name("aws")


def aws_logs(server: RunningServer, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(AWS), "logs", *args, "--endpoint-url", server.endpoint]
    command += ["--region", "us-east-1", "--output", "json"]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": ROOT_KEY,
        "AWS_SECRET_ACCESS_KEY": ROOT_SECRET,
        "AWS_CONFIG_FILE": str(home / "no-such-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-such-credentials"),
    }
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_the_aws_cli_reads_and_manages_log_groups(
    server: RunningServer, group: str, account: str, tmp_path: Path
) -> None:
    submit(server, account, group, STREAM, invocation_log("r1", "hello cli", "[ERROR] bad"))

    def ok(*args: str) -> dict[str, Any]:
        result = aws_logs(server, tmp_path, *args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else {}

    (described,) = ok("describe-log-groups", "--log-group-name-prefix", group)["logGroups"]
    assert described["logGroupName"] == group
    filtered = ok("filter-log-events", "--log-group-name", group, "--filter-pattern", "ERROR")
    assert messages(filtered["events"]) == ["[ERROR] bad\n"]
    events = ok(
        "get-log-events",
        "--log-group-name",
        group,
        "--log-stream-name",
        STREAM,
        "--start-from-head",
    )["events"]
    assert messages(events)[1] == "hello cli\n"
    ok("put-retention-policy", "--log-group-name", group, "--retention-in-days", "30")
    (described,) = ok("describe-log-groups", "--log-group-name-prefix", group)["logGroups"]
    assert described["retentionInDays"] == 30
    failed = aws_logs(server, tmp_path, "create-log-group", "--log-group-name", group)
    assert failed.returncode == 255
    assert "ResourceAlreadyExistsException" in failed.stderr
    assert "The specified log group already exists" in failed.stderr
