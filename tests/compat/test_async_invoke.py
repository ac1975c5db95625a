"""Event invokes, event invoke configs, destinations and dead-letter queues through boto3.

The server here runs no delivery loop of its own: each test drives it with `run_once`
(on the server's event loop) and moves time with its `now`, so retries happen exactly
when AWS's waits say, without sleeping.
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
from click.testing import CliRunner

from lambdalite.cli.main import main
from tests.compat.test_functions import error_of
from tests.compat.test_invoke import stored_lines
from tests.conftest import create, make_zip
from tests.support.servers import ROOT_KEY, ROOT_SECRET, RunningServer, start_server

runs = pytest.mark.sandbox  # the tests that run functions need real sandboxes

ECHO = "def handler(event, context):\n    return {'got': event}\n"
FAILING = (
    "def handler(event, context):\n    raise ValueError('bad input: ' + str(event.get('n')))\n"
)
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture(scope="module")
def aserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("async"), async_poll_interval_seconds=0)
    yield running
    running.stop()


@pytest.fixture
def lam(aserver: RunningServer) -> Any:
    return aserver.client()


@pytest.fixture
def sqs(aserver: RunningServer) -> Any:
    return aserver.client("sqs")


@pytest.fixture
def account(aserver: RunningServer) -> str:
    return aserver.platform.root.account.account_id


@pytest.fixture(autouse=True)
def drained(aserver: RunningServer) -> Iterator[None]:
    """Every test leaves the async queue empty, so the next one's passes see only its own."""
    yield
    events = aserver.platform.async_invocations
    assert events is not None
    for _ in range(10):
        if events.events.count() == 0:
            return
        deliver(aserver, time.time() + 100_000)
    assert events.events.count() == 0


def deliver(server: RunningServer, now: float | None = None) -> int:
    """One pass of the delivery loop, as the server's BackgroundLoop would run it."""
    events = server.platform.async_invocations
    assert events is not None
    loop = server.platform.engine._loop
    assert loop is not None
    future = asyncio.run_coroutine_threadsafe(events.delivery.run_once(now=now), loop)
    return future.result(timeout=120)


def deploy(lam: Any, name: str, source: str, **extra: Any) -> None:
    create(lam, name, Code={"ZipFile": make_zip({"app.py": source})}, **extra)


def event_invoke(lam: Any, name: str, event: Any, **extra: Any) -> str:
    response = lam.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps(event), **extra
    )
    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    request_id: str = response["ResponseMetadata"]["RequestId"]
    return request_id


def new_queue(sqs: Any, account: str) -> tuple[str, str]:
    name = f"q-{uuid.uuid4().hex[:12]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, f"arn:aws:sqs:us-east-1:{account}:{name}"


def messages(sqs: Any, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages"):
        found += batch
    return found


def records(sqs: Any, url: str) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in messages(sqs, url)]


def on(kind: str, arn: str) -> dict[str, Any]:
    return {"DestinationConfig": {kind: {"Destination": arn}}}


# -- Event invokes ------------------------------------------------------------------------


@runs
def test_an_event_is_accepted_then_run_and_its_success_recorded(
    aserver: RunningServer, lam: Any, sqs: Any, name: str, account: str
) -> None:
    deploy(lam, name, ECHO)
    url, queue = new_queue(sqs, account)
    lam.put_function_event_invoke_config(FunctionName=name, **on("OnSuccess", queue))
    request_id = event_invoke(lam, name, {"orderId": "1001"})
    assert messages(sqs, url) == [], "202 means stored, not run"
    assert deliver(aserver) == 1
    (record,) = records(sqs, url)
    assert TIMESTAMP.fullmatch(record.pop("timestamp"))
    assert record == {
        "version": "1.0",
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"arn:aws:lambda:us-east-1:{account}:function:{name}:$LATEST",
            "condition": "Success",
            "approximateInvokeCount": 1,
        },
        "requestPayload": {"orderId": "1001"},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "responsePayload": {"got": {"orderId": "1001"}},
    }


@runs
def test_function_errors_run_three_times_with_one_request_id(
    aserver: RunningServer, lam: Any, sqs: Any, name: str, account: str
) -> None:
    deploy(lam, name, FAILING)
    url, queue = new_queue(sqs, account)
    lam.put_function_event_invoke_config(FunctionName=name, **on("OnFailure", queue))
    request_id = event_invoke(lam, name, {"n": 7})
    start = time.time()
    assert deliver(aserver) == 1
    assert deliver(aserver, start + 30) == 0, "the first retry waits a minute"
    assert deliver(aserver, start + 1000) == 1
    assert deliver(aserver, start + 1100) == 0, "the second waits two"
    assert records(sqs, url) == []
    assert deliver(aserver, start + 2000) == 1
    (record,) = records(sqs, url)
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == {"n": 7}
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["responsePayload"]["errorMessage"] == "bad input: 7"
    assert record["responsePayload"]["requestId"] == request_id
    lines = [line for stream in stored_lines(aserver, account, name).values() for line in stream]
    starts = [line for line in lines if line.startswith("START RequestId: ")]
    assert starts == [f"START RequestId: {request_id} Version: $LATEST\n"] * 3


@runs
def test_maximum_retry_attempts_zero_sends_the_event_to_the_dead_letter_queue(
    aserver: RunningServer, lam: Any, sqs: Any, name: str, account: str
) -> None:
    url, dlq = new_queue(sqs, account)
    deploy(lam, name, FAILING, DeadLetterConfig={"TargetArn": dlq})
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    request_id = event_invoke(lam, name, {"n": 3})
    assert deliver(aserver) == 1
    (message,) = messages(sqs, url)
    assert json.loads(message["Body"]) == {"n": 3}
    assert message["MessageAttributes"] == {
        "RequestID": {"DataType": "String", "StringValue": request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": "bad input: 3"},
    }


@runs
def test_an_error_whose_retry_would_come_too_late_is_event_age_exceeded(
    aserver: RunningServer, lam: Any, sqs: Any, name: str, account: str
) -> None:
    deploy(lam, name, FAILING)
    url, queue = new_queue(sqs, account)
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumEventAgeInSeconds=60, **on("OnFailure", queue)
    )
    event_invoke(lam, name, {"n": 1})
    assert deliver(aserver) == 1
    (record,) = records(sqs, url)
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"]["functionError"] == "Unhandled"


@runs
def test_a_throttled_event_retries_until_its_maximum_age(
    aserver: RunningServer, lam: Any, sqs: Any, name: str, account: str
) -> None:
    deploy(lam, name, ECHO)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    url, queue = new_queue(sqs, account)
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumEventAgeInSeconds=60, **on("OnFailure", queue)
    )
    request_id = event_invoke(lam, name, {"n": 1})
    start = time.time()
    assert deliver(aserver) == 1
    assert deliver(aserver, start + 30) == 1, "throttles retry within seconds"
    assert records(sqs, url) == []
    assert deliver(aserver, start + 61) == 1
    (record,) = records(sqs, url)
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["responseContext"]["statusCode"] == 429
    assert record["responsePayload"]["errorType"] == "TooManyRequestsException"


@runs
def test_an_alias_runs_its_version_under_the_aliass_own_config(
    aserver: RunningServer, lam: Any, sqs: Any, name: str, account: str
) -> None:
    deploy(lam, name, ECHO, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    url, queue = new_queue(sqs, account)
    lam.put_function_event_invoke_config(
        FunctionName=name, Qualifier="live", **on("OnSuccess", queue)
    )
    event_invoke(lam, name, {"unqualified": True})
    request_id = event_invoke(lam, name, {"aliased": True}, Qualifier="live")
    assert deliver(aserver) == 2
    (record,) = records(sqs, url)
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["functionArn"].endswith(f":function:{name}:1")
    assert record["responseContext"]["executedVersion"] == "1"


@runs
def test_a_function_destination_gets_the_record_as_its_own_event(
    aserver: RunningServer, lam: Any, sqs: Any, name: str, account: str
) -> None:
    second = f"{name}-next"
    deploy(lam, name, ECHO)
    deploy(lam, second, ECHO)
    url, queue = new_queue(sqs, account)
    second_arn = f"arn:aws:lambda:us-east-1:{account}:function:{second}"
    lam.put_function_event_invoke_config(FunctionName=name, **on("OnSuccess", second_arn))
    lam.put_function_event_invoke_config(FunctionName=second, **on("OnSuccess", queue))
    request_id = event_invoke(lam, name, {"step": 1})
    assert deliver(aserver) == 1
    assert deliver(aserver) == 1
    (record,) = records(sqs, url)
    assert record["requestContext"]["functionArn"].endswith(f":function:{second}:$LATEST")
    first_record = record["requestPayload"]
    assert first_record["requestContext"]["requestId"] == request_id
    assert first_record["responsePayload"] == {"got": {"step": 1}}


@runs
def test_a_record_that_cannot_be_written_is_kept_until_it_can(
    aserver: RunningServer, lam: Any, sqs: Any, name: str, account: str
) -> None:
    target = f"{name}-target"
    deploy(lam, name, ECHO)
    deploy(lam, target, ECHO)
    url, queue = new_queue(sqs, account)
    target_arn = f"arn:aws:lambda:us-east-1:{account}:function:{target}"
    lam.put_function_event_invoke_config(FunctionName=name, **on("OnSuccess", target_arn))
    request_id = event_invoke(lam, name, {"keep": "me"})
    lam.delete_function(FunctionName=target)
    start = time.time()
    assert deliver(aserver) == 1
    events = aserver.platform.async_invocations
    assert events is not None
    kept = events.events.get(request_id)
    assert kept is not None and kept.last_error is not None
    assert f"record for {target_arn} was not written: Function not found" in kept.last_error
    deploy(lam, target, ECHO)
    lam.put_function_event_invoke_config(FunctionName=target, **on("OnSuccess", queue))
    assert deliver(aserver, start + 10) == 1, "the record is written"
    assert deliver(aserver, start + 10) == 1, "and the target runs it"
    (record,) = records(sqs, url)
    assert record["requestPayload"]["requestContext"]["requestId"] == request_id
    lines = [line for s in stored_lines(aserver, account, name).values() for line in s]
    assert sum(line.startswith("START ") for line in lines) == 1, "the function ran once"


@runs
def test_a_1_mb_event_is_accepted_and_a_larger_one_is_413(
    aserver: RunningServer, lam: Any, name: str
) -> None:
    deploy(lam, name, ECHO)
    padding = 1024 * 1024 - len(b'{"x": ""}')
    event_invoke(lam, name, {"x": "a" * padding})
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(
            FunctionName=name,
            InvocationType="Event",
            Payload=json.dumps({"x": "a" * (padding + 1)}),
        )
    assert error_of(excinfo) == (
        "RequestEntityTooLargeException",
        "1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)",
        413,
    )
    assert deliver(aserver) == 1, "only the accepted one runs"


def test_event_invokes_are_checked_before_they_are_accepted(
    aserver: RunningServer, lam: Any, name: str
) -> None:
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    assert error_of(excinfo)[0::2] == ("ResourceNotFoundException", 404)
    deploy(lam, name, ECHO)
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}", Qualifier="nope")
    assert error_of(excinfo)[0::2] == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{not json")
    code, message, status = error_of(excinfo)
    assert (code, status) == ("InvalidRequestContentException", 400)
    assert message.startswith("Could not parse request body into json")
    events = aserver.platform.async_invocations
    assert events is not None and events.events.count() == 0, "nothing was accepted"


@runs
def test_the_cli_queues_an_event_and_prints_its_request_id(
    aserver: RunningServer, lam: Any, sqs: Any, name: str, account: str, tmp_path: Path
) -> None:
    deploy(lam, name, ECHO)
    url, queue = new_queue(sqs, account)
    lam.put_function_event_invoke_config(FunctionName=name, **on("OnSuccess", queue))
    env = {
        "LAMBDALITE_ENDPOINT": aserver.endpoint,
        "AWS_ACCESS_KEY_ID": ROOT_KEY,
        "AWS_SECRET_ACCESS_KEY": ROOT_SECRET,
        "AWS_PROFILE": None,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    result = CliRunner().invoke(
        main, ["invoke", name, "--async", "--payload", '{"from": "cli"}'], env=env
    )
    assert result.exit_code == 0, result.output
    request_id = result.stdout.strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", request_id)
    assert deliver(aserver) == 1
    (record,) = records(sqs, url)
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestPayload"] == {"from": "cli"}


# -- event invoke configs ----------------------------------------------------------------


def test_put_replaces_update_merges_and_list_pages(
    lam: Any, sqs: Any, name: str, account: str
) -> None:
    deploy(lam, name, ECHO, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    _, queue = new_queue(sqs, account)
    put = lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=1,
        MaximumEventAgeInSeconds=120,
        **on("OnFailure", queue),
    )
    arn = f"arn:aws:lambda:us-east-1:{account}:function:{name}:$LATEST"
    assert put["FunctionArn"] == arn
    assert abs(put["LastModified"].timestamp() - time.time()) < 60
    got = lam.get_function_event_invoke_config(FunctionName=name)
    assert {k: got[k] for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds")} == {
        "MaximumRetryAttempts": 1,
        "MaximumEventAgeInSeconds": 120,
    }
    assert got["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": queue}}

    updated = lam.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2)
    assert updated["MaximumRetryAttempts"] == 2
    assert updated["MaximumEventAgeInSeconds"] == 120, "Update keeps what it does not name"
    assert updated["DestinationConfig"]["OnFailure"] == {"Destination": queue}

    replaced = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    assert replaced["MaximumRetryAttempts"] == 0
    assert "MaximumEventAgeInSeconds" not in replaced, "Put removes what it does not name"
    assert replaced["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}

    lam.put_function_event_invoke_config(FunctionName=name, Qualifier="1", MaximumRetryAttempts=1)
    lam.put_function_event_invoke_config(FunctionName=f"{name}:live", MaximumRetryAttempts=1)
    first = lam.list_function_event_invoke_configs(FunctionName=name, MaxItems=2)
    rest = lam.list_function_event_invoke_configs(FunctionName=name, Marker=first["NextMarker"])
    arns = [c["FunctionArn"] for c in first["FunctionEventInvokeConfigs"]]
    arns += [c["FunctionArn"] for c in rest["FunctionEventInvokeConfigs"]]
    assert sorted(a.rsplit(":", 1)[1] for a in arns) == ["$LATEST", "1", "live"]
    assert "NextMarker" not in rest

    lam.delete_function_event_invoke_config(FunctionName=name, Qualifier="live")
    with pytest.raises(ClientError) as excinfo:
        lam.get_function_event_invoke_config(FunctionName=name, Qualifier="live")
    assert error_of(excinfo) == (
        "ResourceNotFoundException",
        f"The function arn:aws:lambda:us-east-1:{account}:function:{name}:live doesn't "
        "have an EventInvokeConfig",
        404,
    )


def test_config_errors_are_awss_and_store_nothing(
    aserver: RunningServer, lam: Any, sqs: Any, name: str, account: str
) -> None:
    def refused(**params: Any) -> tuple[str, str, int]:
        client = aserver.client(validate=False)
        with pytest.raises(ClientError) as excinfo:
            client.put_function_event_invoke_config(**params)
        return error_of(excinfo)

    assert refused(FunctionName=name, MaximumRetryAttempts=1) == (
        "ResourceNotFoundException",
        "The function doesn't exist.",
        404,
    )
    deploy(lam, name, ECHO)
    assert refused(FunctionName=name) == (
        "InvalidParameterValueException",
        "You must specify at least one of error handling or destination setting.",
        400,
    )
    assert refused(FunctionName=name, Qualifier="nope", MaximumRetryAttempts=1)[0] == (
        "ResourceNotFoundException"
    )
    assert refused(FunctionName=name, MaximumRetryAttempts=3) == (
        "ValidationException",
        "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy "
        "constraint: Member must have value less than or equal to 2",
        400,
    )
    itself = f"arn:aws:lambda:us-east-1:{account}:function:{name}"
    assert refused(FunctionName=name, **on("OnSuccess", itself)) == (
        "InvalidParameterValueException",
        "You can't specify the function as a destination for itself.",
        400,
    )
    missing = f"arn:aws:lambda:us-east-1:{account}:function:{name}-missing"
    assert refused(FunctionName=name, **on("OnFailure", missing)) == (
        "InvalidParameterValueException",
        f"The destination ARN {missing} is invalid.",
        400,
    )
    topic = f"arn:aws:sns:us-east-1:{account}:alerts"
    code, message, _ = refused(FunctionName=name, **on("OnFailure", topic))
    assert code == "InvalidParameterValueException"
    assert message.startswith("lambdalite does not support SNS topics as destinations")
    role = f"arn:aws:iam::{account}:role/x"
    assert refused(FunctionName=name, **on("OnSuccess", role)) == (
        "InvalidParameterValueException",
        f"The provided destination config DestinationConfig(onSuccess=OnSuccess("
        f"destination={role}), onFailure=null) is invalid.",
        400,
    )
    no_queue = f"arn:aws:sqs:us-east-1:{account}:no-such-queue"
    code, message, _ = refused(FunctionName=name, **on("OnFailure", no_queue))
    assert (code, "does not exist" in message) == ("InvalidParameterValueException", True)
    with pytest.raises(ClientError) as excinfo:
        lam.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    assert (
        lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
        == []
    ), "no refused request left a configuration"


def test_dead_letter_config_is_kept_shown_and_removable(
    lam: Any, sqs: Any, name: str, account: str
) -> None:
    _, dlq = new_queue(sqs, account)
    created = create(lam, name, DeadLetterConfig={"TargetArn": dlq})
    assert created["DeadLetterConfig"] == {"TargetArn": dlq}
    assert lam.get_function_configuration(FunctionName=name)["DeadLetterConfig"] == {
        "TargetArn": dlq
    }
    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": ""})
    assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName=name)


def test_dead_letter_targets_lambdalite_cannot_write_are_refused(
    lam: Any, name: str, account: str
) -> None:
    for target, wording in (
        (f"arn:aws:sns:us-east-1:{account}:topic", "does not support SNS topics"),
        (f"arn:aws:sqs:us-east-1:{account}:no-such-queue", "does not exist"),
        (f"arn:aws:lambda:us-east-1:{account}:function:x", "must be the ARN of an SQS queue"),
    ):
        with pytest.raises(ClientError) as excinfo:
            create(lam, name, DeadLetterConfig={"TargetArn": target})
        code, message, status = error_of(excinfo)
        assert (code, status) == ("InvalidParameterValueException", 400)
        assert wording in message
    with pytest.raises(ClientError) as excinfo:
        lam.get_function(FunctionName=name)
    assert error_of(excinfo)[0] == "ResourceNotFoundException", "nothing was created"
