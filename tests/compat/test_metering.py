"""Usage records, bills and the cold-start breakdown against a running server: records
match the REPORT lines, every outcome is metered, bills are per account, and the CLI
shows both (`lambdalite bill`, `lambdalite invoke --timing`)."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import re
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import botocore.auth
import botocore.awsrequest
import httpx
import pytest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from click.testing import CliRunner
from sqlalchemy import select

from lambdalite.cli.main import main
from lambdalite.metering.timing import parse
from lambdalite.store.usage_schema import usage_records
from tests.conftest import create, make_zip
from tests.support.servers import ROOT_KEY, ROOT_SECRET, RunningServer, start_server

runs = pytest.mark.sandbox

HELLO = "import time\ntime.sleep(0.02)\n\ndef handler(event, context):\n    return event\n"
FAILING = "def handler(event, context):\n    raise ValueError('no')\n"
SLEEPY = "import time\n\ndef handler(event, context):\n    time.sleep(5)\n"
REPORT = re.compile(r"REPORT RequestId: (?P<id>\S+)\t(?P<fields>.*)")
# Prices that make sums easy to check: $1 a request, $1,000 a GB-second, nothing free.
SIMPLE_BOOK = """
name = "simple"
currency = "XTS"
[requests]
per_request = "1"
[duration.x86_64]
per_gb_second = "1000"
"""


@pytest.fixture(scope="module")
def mserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Async events are delivered, and event source mappings polled, when a test says."""
    running = start_server(
        tmp_path_factory.mktemp("metering"),
        async_poll_interval_seconds=0,
        event_source_reconcile_seconds=0,
        schedule_poll_interval_seconds=0,
    )
    yield running
    running.stop()


@pytest.fixture
def lam(mserver: RunningServer) -> Any:
    return mserver.client()


@pytest.fixture
def tenant(mserver: RunningServer) -> dict[str, str]:
    """A new account of its own, so its bill holds only what the test ran."""
    response = signed(mserver, "POST", "/_lambdalite/accounts", {"Name": uuid.uuid4().hex[:8]})
    assert response.status_code == 201, response.text
    return dict(response.json())


# -- helpers ---------------------------------------------------------------------------------
def signed(
    server: RunningServer,
    method: str,
    path: str,
    document: dict[str, Any] | None = None,
    key: str = ROOT_KEY,
    secret: str = ROOT_SECRET,
) -> httpx.Response:
    """One of lambdalite's own endpoints, signed as boto3 signs a Lambda call."""
    body = json.dumps(document).encode() if document is not None else b""
    request = botocore.awsrequest.AWSRequest(method=method, url=server.endpoint + path, data=body)
    botocore.auth.SigV4Auth(Credentials(key, secret), "lambda", "us-east-1").add_auth(request)
    prepared = request.prepare()
    return httpx.request(method, prepared.url, content=body, headers=dict(prepared.headers))


def on_loop(server: RunningServer, work: Any) -> Any:
    loop = server.platform.engine._loop
    assert loop is not None
    return asyncio.run_coroutine_threadsafe(work, loop).result(timeout=120)


def flush(server: RunningServer) -> None:
    """The log writer's next flush, which stores the usage records too."""
    on_loop(server, server.platform.engine.logs.run_once())


def usage(server: RunningServer, request_id: str, **auth: str) -> list[dict[str, Any]]:
    flush(server)
    response = signed(server, "GET", f"/_lambdalite/usage?request_id={request_id}", **auth)
    assert response.status_code == 200, response.text
    return list(response.json()["UsageRecords"])


def bill(server: RunningServer, **params: Any) -> httpx.Response:
    auth = {k: params.pop(k) for k in ("key", "secret") if k in params}
    flush(server)
    return signed(server, "POST", "/_lambdalite/bill", params, **auth)


def deploy(lam: Any, name: str, source: str, **extra: Any) -> None:
    create(lam, name, Code={"ZipFile": make_zip({"app.py": source})}, **extra)


def invoke(lam: Any, name: str) -> dict[str, Any]:
    response: dict[str, Any] = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    response["Payload"].read()
    return response


def report(response: dict[str, Any]) -> dict[str, str]:
    """The REPORT line of an invocation's log tail, as {field: value}."""
    tail = base64.b64decode(response["LogResult"]).decode()
    match = next(REPORT.finditer(tail))
    fields = dict(f.split(": ", 1) for f in match["fields"].strip("\t\n").split("\t"))
    return {"RequestId": match["id"], **fields}


def key_of(tenant: dict[str, str]) -> dict[str, str]:
    return {"key": tenant["AccessKeyId"], "secret": tenant["SecretAccessKey"]}


# -- usage records ---------------------------------------------------------------------------
@runs
def test_usage_records_match_the_report_lines(mserver: RunningServer, lam: Any, name: str) -> None:
    deploy(lam, name, HELLO, MemorySize=256)
    for cold in (True, False):
        line = report(invoke(lam, name))
        (record,) = usage(mserver, line["RequestId"])
        assert f"{record['DurationMs']:.2f} ms" == line["Duration"]
        assert f"{record['BilledMs']} ms" == line["Billed Duration"]
        assert f"{record['MemorySizeMb']} MB" == line["Memory Size"]
        assert f"{record['MaxMemoryUsedMb']} MB" == line["Max Memory Used"]
        assert record["Cold"] is cold
        if cold:
            assert f"{record['InitMs']:.2f} ms" == line["Init Duration"]
        else:
            assert record["InitMs"] is None and "Init Duration" not in line
        assert record["FunctionName"] == name and record["Version"] == "$LATEST"
        assert (record["Trigger"], record["Outcome"], record["Architecture"]) == (
            "api",
            "success",
            "x86_64",
        )
        billed = record["BilledMs"]
        assert Decimal(record["GbSeconds"]) == Decimal(billed * 256) / 1_024_000
        assert Decimal(record["Cost"]) == Decimal("0.0000002") + Decimal(
            billed * 256
        ) / 1_024_000 * Decimal("0.0000166667")


@runs
def test_the_timing_header_and_the_record_tell_the_same_cold_start(
    mserver: RunningServer, lam: Any, name: str
) -> None:
    deploy(lam, name, HELLO)
    cold = invoke(lam, name)
    header = parse(cold["ResponseMetadata"]["HTTPHeaders"]["x-lambdalite-timing"])
    (record,) = usage(mserver, cold["ResponseMetadata"]["RequestId"])
    start = record["ColdStart"]
    assert header["cold"] == "1"
    assert header["create"] == f"{start['CreateMs']:.3f}"
    assert header["runtime"] == f"{start['RuntimeMs']:.3f}"
    assert header["init"] == f"{start['FunctionInitMs']:.3f}"
    assert header["handler"] == f"{record['DurationMs']:.3f}"
    assert header["queued"] == f"{start['QueuedMs']:.3f}"
    assert int(header["billed"]) == record["BilledMs"]
    # The function's init sleeps 20 ms: that is function init, not the platform's part.
    assert start["FunctionInitMs"] >= 20
    assert record["InitMs"] >= start["RuntimeMs"] + start["FunctionInitMs"]
    warm = invoke(lam, name)
    fields = parse(warm["ResponseMetadata"]["HTTPHeaders"]["x-lambdalite-timing"])
    assert fields["cold"] == "0" and "create" not in fields and "init" not in fields
    (again,) = usage(mserver, warm["ResponseMetadata"]["RequestId"])
    assert again["ColdStart"] is None


@runs
def test_function_errors_and_timeouts_are_metered(
    mserver: RunningServer, lam: Any, name: str
) -> None:
    deploy(lam, name, FAILING)
    (failed,) = usage(mserver, invoke(lam, name)["ResponseMetadata"]["RequestId"])
    assert (failed["Outcome"], failed["ErrorType"]) == ("function_error", "ValueError")
    assert Decimal(failed["Cost"]) > 0
    slow = f"{name}-slow"
    deploy(lam, slow, SLEEPY, Timeout=1)
    response = invoke(lam, slow)
    (timed_out,) = usage(mserver, response["ResponseMetadata"]["RequestId"])
    assert (timed_out["Outcome"], timed_out["ErrorType"]) == ("timeout", "Sandbox.Timedout")
    assert f"{timed_out['BilledMs']} ms" == report(response)["Billed Duration"]


@runs
def test_a_throttle_is_metered_from_the_429(mserver: RunningServer, lam: Any, name: str) -> None:
    deploy(lam, name, HELLO)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=name, Payload=b"{}")
    request_id = excinfo.value.response["ResponseMetadata"]["RequestId"]
    (record,) = usage(mserver, request_id)
    assert record["Outcome"] == "throttled"
    assert (record["BilledMs"], record["Cost"], record["Cold"]) == (0, "0", False)


@runs
def test_an_async_invocation_is_metered_as_an_event(
    mserver: RunningServer, lam: Any, name: str
) -> None:
    deploy(lam, name, HELLO)
    accepted = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    request_id = accepted["ResponseMetadata"]["RequestId"]
    events = mserver.platform.async_invocations
    assert events is not None
    assert on_loop(mserver, events.delivery.run_once()) == 1
    (record,) = usage(mserver, request_id)
    assert (record["Trigger"], record["Outcome"]) == ("event", "success")


@runs
def test_function_url_and_schedule_invocations_name_their_trigger(
    mserver: RunningServer, lam: Any, name: str
) -> None:
    deploy(lam, name, HELLO)
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    assert httpx.get(url, timeout=60).status_code == 200
    events = mserver.client("events")
    rule_arn = events.put_rule(Name=name, ScheduleExpression="rate(1 minute)")["RuleArn"]
    function_arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    events.put_targets(Rule=name, Targets=[{"Id": "1", "Arn": function_arn}])
    schedules, delivery = mserver.platform.schedules, mserver.platform.async_invocations
    assert schedules is not None and delivery is not None and rule_arn
    later = time.time() + 3600  # the rule is due, and so is the event it enqueues
    assert on_loop(mserver, schedules.scheduler.run_once(now=later)) == 1
    assert on_loop(mserver, delivery.delivery.run_once(now=later)) == 1
    flush(mserver)
    query = select(usage_records.c.trigger).where(usage_records.c.function_name == name)
    with mserver.platform.db.read() as conn:
        assert sorted(row.trigger for row in conn.execute(query)) == ["schedule", "url"]


@runs
def test_a_queue_mapping_invocation_is_metered_as_queue(
    mserver: RunningServer, lam: Any, name: str
) -> None:
    deploy(lam, name, HELLO)
    sqs = mserver.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn["QueueArn"])
    pollers = mserver.platform.pollers
    assert pollers is not None
    on_loop(mserver, pollers.run_once())  # Creating -> Enabled, its poller started
    sqs.send_message(QueueUrl=url, MessageBody="one")
    on_loop(mserver, pollers.run_once())
    flush(mserver)
    query = select(usage_records.c.trigger, usage_records.c.outcome).where(
        usage_records.c.function_name == name
    )
    with mserver.platform.db.read() as conn:
        assert [tuple(row) for row in conn.execute(query)] == [("queue", "success")]


@runs
def test_an_account_sees_only_its_own_usage_records(
    mserver: RunningServer, lam: Any, name: str, tenant: dict[str, str]
) -> None:
    deploy(lam, name, HELLO)
    root_request = invoke(lam, name)["ResponseMetadata"]["RequestId"]
    assert len(usage(mserver, root_request)) == 1
    assert usage(mserver, root_request, **key_of(tenant)) == []
    response = signed(mserver, "GET", "/_lambdalite/usage", **key_of(tenant))
    assert response.status_code == 400  # request_id is required
    unsigned = httpx.get(f"{mserver.endpoint}/_lambdalite/usage?request_id={root_request}")
    assert unsigned.status_code == 403


# -- bills -----------------------------------------------------------------------------------
@runs
def test_bills_by_function_account_and_day(mserver: RunningServer, tenant: dict[str, str]) -> None:
    auth = key_of(tenant)
    lam = mserver.client(key=auth["key"], secret=auth["secret"])
    deploy(lam, "small", HELLO, MemorySize=128)
    deploy(lam, "large", HELLO, MemorySize=1024)
    ids = [invoke(lam, fn)["ResponseMetadata"]["RequestId"] for fn in ("small", "large", "large")]
    records = [r for rid in ids for r in usage(mserver, rid, **auth)]
    by_function = bill(mserver, By="function", PriceBookToml=SIMPLE_BOOK, **auth).json()
    assert by_function["Currency"] == "XTS"
    lines = {g["Function"]: g for g in by_function["Groups"]}
    assert set(lines) == {"small", "large"}
    for fn, memory in (("small", 128), ("large", 1024)):
        mine = [r for r in records if r["FunctionName"] == fn]
        billed = sum(r["BilledMs"] for r in mine)
        gb_seconds = Decimal(billed * memory) / 1_024_000
        assert lines[fn]["Requests"] == len(mine)
        assert lines[fn]["BilledMs"] == billed
        assert Decimal(lines[fn]["GbSeconds"]) == gb_seconds
        assert Decimal(lines[fn]["Cost"]) == len(mine) + gb_seconds * 1000
    total = by_function["Total"]
    assert Decimal(total["Cost"]) == sum(Decimal(g["Cost"]) for g in by_function["Groups"])
    by_account = bill(mserver, By="account", PriceBookToml=SIMPLE_BOOK, **auth).json()
    assert [g["Account"] for g in by_account["Groups"]] == [tenant["AccountId"]]
    assert by_account["Total"] == total
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    by_day = bill(mserver, By="day", PriceBook="aws", **auth).json()
    assert [g["Day"] for g in by_day["Groups"]] == [today]
    # Within AWS's free tier: requests and GB-seconds are free, so is the bill.
    assert by_day["Total"]["FreeRequests"] == 3 and Decimal(by_day["Total"]["Cost"]) == 0


def test_bills_are_per_account_and_root_sees_all(
    mserver: RunningServer, tenant: dict[str, str]
) -> None:
    auth = key_of(tenant)
    root = mserver.platform.root.account.account_id
    refused = bill(mserver, Account=root, **auth)
    assert refused.status_code == 403
    assert refused.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert bill(mserver, By="account", Account=tenant["AccountId"]).status_code == 200
    wrong = bill(mserver, By="week")
    assert wrong.status_code == 400 and "function, account, day" in wrong.json()["message"]
    book = bill(mserver, PriceBookToml='name = "x"\n[requests]\nper_milion = "1"\n')
    assert book.status_code == 400 and "per_milion" in book.json()["message"]
    query = signed(mserver, "GET", "/_lambdalite/bill?by=account&price_book=self-hosted")
    assert query.status_code == 200 and query.json()["PriceBook"] == "self-hosted"


# -- the CLI ---------------------------------------------------------------------------------
def cli_env(server: RunningServer, tmp_path: Path, key: str, secret: str) -> dict[str, Any]:
    return {
        "LAMBDALITE_ENDPOINT": server.endpoint,
        "LAMBDALITE_DATA_DIR": str(tmp_path / "no-data-dir"),
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_DEFAULT_PROFILE": None,
        "AWS_REGION": None,
        "AWS_DEFAULT_REGION": None,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }


@runs
def test_cli_invoke_timing_and_bill(
    mserver: RunningServer, tenant: dict[str, str], tmp_path: Path
) -> None:
    auth = key_of(tenant)
    env = cli_env(mserver, tmp_path, auth["key"], auth["secret"])
    lam = mserver.client(key=auth["key"], secret=auth["secret"])
    deploy(lam, "timed", HELLO)
    runner = CliRunner()
    first = runner.invoke(main, ["invoke", "timed", "--timing"], env=env)
    assert first.exit_code == 0, first.output
    assert first.stderr.startswith("cold start: queued for a lease ")
    assert "sandbox creation" in first.stderr and "function init" in first.stderr
    second = runner.invoke(main, ["invoke", "timed", "--timing"], env=env)
    assert second.stderr.startswith("warm start: queued for a lease ")
    assert "sandbox creation" not in second.stderr
    flush(mserver)
    book = tmp_path / "simple.toml"
    book.write_text(SIMPLE_BOOK)
    as_json = runner.invoke(main, ["bill", "--json", "--price-book", str(book)], env=env)
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert document["PriceBook"] == "simple"
    assert [g["Function"] for g in document["Groups"]] == ["timed"]
    assert document["Total"]["Requests"] == 2
    table = runner.invoke(main, ["bill", "--by", "day", "--since", "1d"], env=env)
    assert table.exit_code == 0, table.output
    assert "price book aws (USD)" in table.stdout and "total" in table.stdout
    missing = runner.invoke(main, ["bill", "--price-book", str(tmp_path / "none.toml")], env=env)
    assert missing.exit_code == 1 and "cannot read price book" in missing.stderr
