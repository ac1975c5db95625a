"""SQS event source mappings through boto3, on real sandboxes: the API (errors, states,
pagination), what functions receive (AWS's event shape, byte for byte), and how batches
end (deleted, returned, redriven, partly failed, held for a window), with concurrency
caps, FIFO order and disabled mappings; plus the queue items of issue 4 (QueueDeletedRecently,
1 MiB messages).

The server runs with a clock the tests move (queues and pollers read it) and with no
polling of its own: tests drive the pollers one round at a time with `run_once()`, on the
server's event loop, and read what functions printed from the stored logs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import struct
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn
from botocore.exceptions import ClientError
from psycopg import sql
from sqlalchemy.engine import make_url

from lambdalite.server import Platform, build_platform
from lambdalite.settings import Settings
from lambdalite.store.logs import LogStore
from tests.conftest import create, make_zip
from tests.support.clock import ManualClock as Clock
from tests.support.servers import (
    ROOT_KEY,
    ROOT_SECRET,
    PostgresServer,
    boto_client,
    free_port,
)

pytestmark = pytest.mark.sandbox


@dataclass
class ClockedServer:
    platform: Platform
    endpoint: str
    clock: Clock
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def account(self) -> str:
        return self.platform.root.account.account_id

    def client(self, service: str = "lambda", validate: bool = True) -> Any:
        return boto_client(self.endpoint, service, validate=validate)

    def run(self, work: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine on the server's event loop (where its sandboxes live)."""
        loop = self.platform.engine._loop
        assert loop is not None
        return asyncio.run_coroutine_threadsafe(work, loop).result(timeout=120)

    def poll(self, rounds: int = 1) -> None:
        pollers = self.platform.pollers
        assert pollers is not None
        for _ in range(rounds):
            self.run(pollers.run_once())

    def printed(self, function: str, prefix: str = "RECORD ") -> list[str]:
        """The function's log lines that start with `prefix`, in the order stored."""
        self.run(self.platform.engine.logs.run_once())
        store = LogStore(self.platform.db)
        group = f"/aws/lambda/{function}"
        events = [
            event
            for stream in store.streams(self.account, group)
            for event in store.events(self.account, group, stream)
        ]
        events.sort(key=lambda e: e.id)
        return [
            e.message[len(prefix) :].rstrip("\n") for e in events if e.message.startswith(prefix)
        ]

    def records(self, function: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.printed(function)]

    def sandboxes(self, function: str) -> int:
        """How many sandboxes the function ran in (one log stream each)."""
        return len(LogStore(self.platform.db).streams(self.account, f"/aws/lambda/{function}"))

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self.platform.close()


def start_clocked_server(
    data_dir: Path, clock: Clock, database_url: str | None = None
) -> ClockedServer:
    port = free_port()
    settings = Settings(
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        root_access_key_id=ROOT_KEY,
        root_secret_access_key=ROOT_SECRET,
        event_source_reconcile_seconds=0,  # the tests drive every round
    )
    platform = build_platform(settings, clock=clock)
    config = uvicorn.Config(
        platform.app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    running = ClockedServer(platform, f"http://127.0.0.1:{port}", clock, server, thread)
    # Logs are flushed only when a test reads them: a background flush in progress would
    # hold lines a test's own flush then misses (LogWriter.run_once returns at once).
    running.run(platform.engine._log_flusher.stop())
    return running


@pytest.fixture(scope="module")
def esm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClockedServer]:
    running = start_clocked_server(tmp_path_factory.mktemp("esm"), Clock())
    yield running
    running.stop()


@pytest.fixture
def lam(esm_server: ClockedServer) -> Any:
    return esm_server.client()


@pytest.fixture
def sqs(esm_server: ClockedServer) -> Any:
    return esm_server.client("sqs")


@pytest.fixture
def name() -> str:
    return f"esm-{uuid.uuid4().hex[:12]}"


# -- functions -----------------------------------------------------------------------------

RECORDER = """
import json

def handler(event, context):
    for record in event["Records"]:
        print("RECORD " + json.dumps({
            "id": record["messageId"],
            "body": record["body"][:64],
            "size": len(record["body"]),
            "count": record["attributes"]["ApproximateReceiveCount"],
            "batch": len(event["Records"]),
        }))
"""

FAILING = (
    RECORDER
    + """
    raise RuntimeError("could not process the batch")
"""
)

# Fails the records whose body starts with "fail" (ReportBatchItemFailures).
PARTIAL = (
    RECORDER
    + """
    return {"batchItemFailures": [
        {"itemIdentifier": r["messageId"]} for r in event["Records"]
        if r["body"].startswith("fail")
    ]}
"""
)

SLEEPY = """
import json, time

def handler(event, context):
    time.sleep(0.5)
    for record in event["Records"]:
        print("RECORD " + json.dumps({"id": record["messageId"], "body": record["body"]}))
"""


def deploy(lam: Any, name: str, source: str, **extra: Any) -> str:
    return str(
        create(lam, name, Code={"ZipFile": make_zip({"app.py": source})}, **extra)["FunctionArn"]
    )


def make_queue(sqs: Any, name: str, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def counts(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(found[names[0]]), int(found[names[1]])


def send(sqs: Any, url: str, *bodies: str, **extra: Any) -> list[str]:
    return [sqs.send_message(QueueUrl=url, MessageBody=b, **extra)["MessageId"] for b in bodies]


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


# -- the API -------------------------------------------------------------------------------


def test_mapping_lifecycle_moves_through_aws_states(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    function_arn = deploy(lam, name, RECORDER)
    _, queue_arn = make_queue(sqs, name)
    created = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=queue_arn)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    mapping_id = created["UUID"]
    assert {k: v for k, v in created.items() if k not in ("ResponseMetadata", "LastModified")} == {
        "UUID": mapping_id,
        "BatchSize": 10,
        "MaximumBatchingWindowInSeconds": 0,
        "EventSourceArn": queue_arn,
        "FunctionArn": function_arn,
        "State": "Creating",
        "StateTransitionReason": "USER_INITIATED",
        "FunctionResponseTypes": [],
        "EventSourceMappingArn": (
            f"arn:aws:lambda:us-east-1:{esm_server.account}:event-source-mapping:{mapping_id}"
        ),
    }
    assert created["LastModified"].timestamp() == pytest.approx(esm_server.clock.now, abs=0.01)

    def state() -> str:
        return str(lam.get_event_source_mapping(UUID=mapping_id)["State"])

    assert state() == "Creating"
    esm_server.poll()
    assert state() == "Enabled"

    disabling = lam.update_event_source_mapping(UUID=mapping_id, Enabled=False)
    assert (disabling["State"], disabling["ResponseMetadata"]["HTTPStatusCode"]) == (
        "Disabling",
        202,
    )
    # In a transitional state it can be neither updated nor deleted.
    with pytest.raises(lam.exceptions.ResourceInUseException) as busy:
        lam.update_event_source_mapping(UUID=mapping_id, BatchSize=5)
    assert error_of(busy) == (
        "ResourceInUseException",
        "Cannot update the event source mapping because it is in use.",
        400,
    )
    with pytest.raises(lam.exceptions.ResourceInUseException) as busy:
        lam.delete_event_source_mapping(UUID=mapping_id)
    assert error_of(busy)[1] == "Cannot delete the event source mapping because it is in use."
    esm_server.poll()
    assert state() == "Disabled"

    assert lam.update_event_source_mapping(UUID=mapping_id, Enabled=True)["State"] == "Enabling"
    esm_server.poll()
    assert state() == "Enabled"

    updated = lam.update_event_source_mapping(
        UUID=mapping_id,
        BatchSize=5,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        ScalingConfig={"MaximumConcurrency": 3},
    )
    assert updated["State"] == "Updating"
    esm_server.poll()
    got = lam.get_event_source_mapping(UUID=mapping_id)
    assert (got["State"], got["BatchSize"], got["FunctionResponseTypes"], got["ScalingConfig"]) == (
        "Enabled",
        5,
        ["ReportBatchItemFailures"],
        {"MaximumConcurrency": 3},
    )
    # An empty ScalingConfig removes it ("ScalingConfig": pass an empty value).
    lam.update_event_source_mapping(UUID=mapping_id, ScalingConfig={})
    esm_server.poll()
    assert "ScalingConfig" not in lam.get_event_source_mapping(UUID=mapping_id)

    deleting = lam.delete_event_source_mapping(UUID=mapping_id)
    assert (deleting["State"], deleting["ResponseMetadata"]["HTTPStatusCode"]) == ("Deleting", 202)
    assert state() == "Deleting"
    esm_server.poll()
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as gone:
        lam.get_event_source_mapping(UUID=mapping_id)
    assert error_of(gone) == (
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
        404,
    )


def test_a_disabled_mapping_does_not_poll(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    deploy(lam, name, RECORDER)
    url, arn = make_queue(sqs, name)
    send(sqs, url, "waiting")
    mapping_id = lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn, Enabled=False
    )["UUID"]
    esm_server.poll(3)
    assert lam.get_event_source_mapping(UUID=mapping_id)["State"] == "Disabled"
    assert counts(sqs, url) == (1, 0), "the message was never received"
    assert esm_server.printed(name) == []

    lam.update_event_source_mapping(UUID=mapping_id, Enabled=True)
    esm_server.poll()
    assert [r["body"] for r in esm_server.records(name)] == ["waiting"]
    assert counts(sqs, url) == (0, 0)


def test_updating_the_function_moves_the_batches(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    old, new, taken = name, f"{name}-new", f"{name}-taken"
    for function in (old, new, taken):
        deploy(lam, function, RECORDER)
    url, arn = make_queue(sqs, name)
    mapping_id = lam.create_event_source_mapping(FunctionName=old, EventSourceArn=arn)["UUID"]
    lam.create_event_source_mapping(FunctionName=taken, EventSourceArn=arn)
    esm_server.poll()
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.update_event_source_mapping(UUID=mapping_id, FunctionName=taken)
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as missing:
        lam.update_event_source_mapping(UUID=mapping_id, FunctionName=f"{name}-missing")
    assert error_of(missing)[1] == "Function does not exist"

    updated = lam.update_event_source_mapping(UUID=mapping_id, FunctionName=new)
    assert (updated["State"], updated["FunctionArn"].split(":")[-1]) == ("Updating", new)
    esm_server.poll()  # settles the update; the next round reads for the new function
    send(sqs, url, "for the new one")
    esm_server.poll()
    assert esm_server.printed(old) == []
    got = esm_server.records(new) + esm_server.records(taken)
    assert [r["body"] for r in got] == ["for the new one"]


def test_a_duplicate_mapping_is_a_conflict(lam: Any, sqs: Any, name: str) -> None:
    deploy(lam, name, RECORDER)
    _, arn = make_queue(sqs, name)
    first = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)["UUID"]
    with pytest.raises(lam.exceptions.ResourceConflictException) as conflict:
        lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=3)
    assert error_of(conflict) == (
        "ResourceConflictException",
        f'An event source mapping with SQS arn (" {arn} ") and function (" {name} ") already '
        f"exists. Please update or delete the existing mapping with UUID {first}",
        409,
    )
    assert len(lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]) == 1


# Create requests lambdalite refuses, with AWS's error and words ("{account}": the caller's).
REFUSALS = [
    pytest.param(
        {"BatchSize": 11},
        "InvalidParameterValueException",
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is "
        "greater than 10",
        id="batch>10-no-window",
    ),
    pytest.param(
        {"BatchSize": 10_001},
        "ValidationException",
        "1 validation error detected: Value '10001' at 'batchSize' failed to satisfy "
        "constraint: Member must have value less than or equal to 10000",
        id="batch-range",
    ),
    pytest.param(
        {"MaximumBatchingWindowInSeconds": 301},
        "ValidationException",
        "1 validation error detected: Value '301' at 'maximumBatchingWindowInSeconds' failed "
        "to satisfy constraint: Member must have value less than or equal to 300",
        id="window-range",
    ),
    pytest.param(
        {"ScalingConfig": {"MaximumConcurrency": 1}},
        "ValidationException",
        "1 validation error detected: Value '1' at 'scalingConfig.maximumConcurrency' failed "
        "to satisfy constraint: Member must have value greater than or equal to 2",
        id="concurrency-range",
    ),
    pytest.param(
        {"FunctionResponseTypes": ["Everything"]}, "ValidationException", None, id="response-type"
    ),
    pytest.param(
        {"StartingPosition": "LATEST"},
        "InvalidParameterValueException",
        "StartingPosition is not valid for SQS event sources.",
        id="starting-position",
    ),
    pytest.param(
        {"MaximumRetryAttempts": 3},
        "InvalidParameterValueException",
        "MaximumRetryAttempts is not valid for SQS event sources.",
        id="stream-only",
    ),
    pytest.param(
        {"FilterCriteria": {"Filters": [{"Pattern": "not json"}]}},
        "InvalidParameterValueException",
        "Invalid filter pattern definition.",
        id="filter-not-json",
    ),
    pytest.param(
        {"FilterCriteria": {"Filters": [{"Pattern": '{"body": {"a": [{"wildcard": "x*"}]}}'}]}},
        "InvalidParameterValueException",
        "lambdalite does not support the 'wildcard' filter operator yet; it applies exact "
        "values and prefix, suffix, equals-ignore-case, anything-but, numeric, exists.",
        id="filter-unsupported",
    ),
    pytest.param(
        {"EventSourceArn": None},
        "InvalidParameterValueException",
        "Unrecognized event source.",
        id="no-source",
    ),
    pytest.param(
        {"EventSourceArn": "arn:aws:sqs:us-east-1:{account}:no-such-queue"},
        "InvalidParameterValueException",
        "Error occurred while ReceiveMessage. SQS Error Code: "
        "AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue "
        "does not exist.",
        id="no-queue",
    ),
    pytest.param(
        {"FunctionName": "no-such-function"},
        "InvalidParameterValueException",
        "Function does not exist",
        id="no-function",
    ),
]


@pytest.mark.parametrize(("extra", "code", "message"), REFUSALS)
def test_a_refused_create_leaves_nothing(
    esm_server: ClockedServer,
    sqs: Any,
    name: str,
    extra: dict[str, Any],
    code: str,
    message: str | None,
) -> None:
    lam = esm_server.client(validate=False)
    deploy(lam, name, RECORDER)
    _, arn = make_queue(sqs, name)
    params: dict[str, Any] = {"FunctionName": name, "EventSourceArn": arn}
    for key, value in extra.items():
        if isinstance(value, str):
            value = value.replace("{account}", esm_server.account)
        params[key] = value
    params = {k: v for k, v in params.items() if v is not None}
    with pytest.raises(ClientError) as excinfo:
        lam.create_event_source_mapping(**params)
    got_code, got_message, status = error_of(excinfo)
    assert (got_code, status) == (code, 400)
    if message is not None:
        assert got_message == message
    assert lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"] == []


def test_queue_rules_are_checked(esm_server: ClockedServer, lam: Any, sqs: Any, name: str) -> None:
    deploy(lam, name, RECORDER, Timeout=3)
    _, fifo = make_queue(sqs, f"{name}.fifo", FifoQueue="true")
    _, short = make_queue(sqs, f"{name}-short", VisibilityTimeout="2")

    def refused(**params: Any) -> str:
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
            lam.create_event_source_mapping(FunctionName=name, **params)
        return error_of(excinfo)[1]

    assert refused(EventSourceArn=fifo, BatchSize=11, MaximumBatchingWindowInSeconds=1) == (
        "Maximum batch size must be between 1 and 10 inclusive"
    )
    assert refused(EventSourceArn=fifo, MaximumBatchingWindowInSeconds=5) == (
        "Batching window is not supported for FIFO queues"
    )
    assert refused(EventSourceArn=short) == (
        "Queue visibility timeout: 2 seconds is less than Function timeout: 3 seconds"
    )
    elsewhere = f"arn:aws:sqs:us-east-1:999999999999:{name}"
    assert refused(EventSourceArn=elsewhere).startswith("Error occurred while ReceiveMessage.")
    # A standard queue's batch over 10 with a window is fine; so is the update rule.
    _, standard = make_queue(sqs, name)
    mapping_id = lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=standard, BatchSize=100, MaximumBatchingWindowInSeconds=1
    )["UUID"]
    esm_server.poll()
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        lam.update_event_source_mapping(UUID=mapping_id, MaximumBatchingWindowInSeconds=0)
    assert "greater than 0 if maximum batch size is greater than 10" in error_of(excinfo)[1]
    assert lam.get_event_source_mapping(UUID=mapping_id)["MaximumBatchingWindowInSeconds"] == 1


def test_list_filters_and_pages(esm_server: ClockedServer, lam: Any, sqs: Any, name: str) -> None:
    deploy(lam, name, RECORDER)
    deploy(lam, f"{name}-other", RECORDER)
    arns = [make_queue(sqs, f"{name}-{i}")[1] for i in range(3)]
    mine = {
        lam.create_event_source_mapping(FunctionName=name, EventSourceArn=a)["UUID"] for a in arns
    }
    theirs = lam.create_event_source_mapping(FunctionName=f"{name}-other", EventSourceArn=arns[0])

    first = lam.list_event_source_mappings(FunctionName=name, MaxItems=2)
    assert len(first["EventSourceMappings"]) == 2
    rest = lam.list_event_source_mappings(FunctionName=name, MaxItems=2, Marker=first["NextMarker"])
    assert len(rest["EventSourceMappings"]) == 1 and "NextMarker" not in rest
    listed = first["EventSourceMappings"] + rest["EventSourceMappings"]
    assert {m["UUID"] for m in listed} == mine
    paged = lam.get_paginator("list_event_source_mappings").paginate(
        FunctionName=name, PaginationConfig={"PageSize": 1}
    )
    assert {m["UUID"] for page in paged for m in page["EventSourceMappings"]} == mine

    by_source = lam.list_event_source_mappings(EventSourceArn=arns[0])["EventSourceMappings"]
    assert {m["UUID"] for m in by_source} >= {theirs["UUID"]}
    assert {m["FunctionArn"].split(":")[-1] for m in by_source} == {name, f"{name}-other"}
    both = lam.list_event_source_mappings(FunctionName=f"{name}-other", EventSourceArn=arns[1])
    assert both["EventSourceMappings"] == []
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        lam.list_event_source_mappings(FunctionName=f"{name}-missing")
    assert error_of(excinfo)[1] == "Function does not exist"


def test_another_accounts_mapping_does_not_exist(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    deploy(lam, name, RECORDER)
    _, arn = make_queue(sqs, name)
    mapping_id = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)["UUID"]
    _, key = esm_server.platform.accounts.create(f"acct-{uuid.uuid4().hex[:8]}")
    other = boto_client(esm_server.endpoint, key=key.access_key_id, secret=key.secret_access_key)
    for call in (
        lambda: other.get_event_source_mapping(UUID=mapping_id),
        lambda: other.delete_event_source_mapping(UUID=mapping_id),
        lambda: other.update_event_source_mapping(UUID=mapping_id, Enabled=False),
    ):
        with pytest.raises(other.exceptions.ResourceNotFoundException):
            call()
    assert other.list_event_source_mappings()["EventSourceMappings"] == []
    assert lam.get_event_source_mapping(UUID=mapping_id)["State"] == "Creating"


# -- what the function receives ------------------------------------------------------------

EVENT_PRINTER = """
import json

def handler(event, context):
    print("EVENT " + json.dumps(event))
    raise RuntimeError("keep the batch, so its receipt handles stay current")
"""


def _attributes_md5(attributes: dict[str, Any]) -> str:
    """SQS's MD5 of message attributes, written from its documentation (not lambdalite's)."""
    out = bytearray()
    for attr in sorted(attributes):
        value = attributes[attr]
        for part in (attr.encode(), value["DataType"].encode()):
            out += struct.pack("!I", len(part)) + part
        if "BinaryValue" in value:
            out += b"\x02" + struct.pack("!I", len(value["BinaryValue"])) + value["BinaryValue"]
        else:
            data = value["StringValue"].encode()
            out += b"\x01" + struct.pack("!I", len(data)) + data
    return hashlib.md5(bytes(out), usedforsecurity=False).hexdigest()


def test_the_event_is_awss_sqs_shape_byte_for_byte(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    deploy(lam, name, EVENT_PRINTER)
    url, arn = make_queue(sqs, name)
    # The messages of AWS's sample event (aws-reference/events/sqs-batch.json), whose
    # digests AWS recorded, and one with a binary attribute and one with none.
    book = {
        "Author": {"DataType": "String", "StringValue": "John Grisham"},
        "Title": {"DataType": "String", "StringValue": "The Whistler"},
        "WeeksOn": {"DataType": "Number", "StringValue": "6"},
    }
    binary = {"Thumb": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xffpng"}}
    sent_at = esm_server.clock.now
    ids = [
        sqs.send_message(
            QueueUrl=url, MessageBody='{"orderId": "1001", "status": "NEW"}', MessageAttributes=book
        )["MessageId"],
        sqs.send_message(
            QueueUrl=url,
            MessageBody='{"orderId": "1002", "status": "NEW"}',
            MessageAttributes={"Author": book["Author"]},
        )["MessageId"],
        sqs.send_message(QueueUrl=url, MessageBody="ünïcode & <xml>", MessageAttributes=binary)[
            "MessageId"
        ],
        sqs.send_message(QueueUrl=url, MessageBody="plain")["MessageId"],
    ]
    esm_server.clock.advance(2.5)
    received_at = esm_server.clock.now
    lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)
    esm_server.poll()

    (printed,) = esm_server.printed(name, prefix="EVENT ")
    event = json.loads(printed)
    handles = [r["receiptHandle"] for r in event["Records"]]

    def record(index: int, body: str, attributes: dict[str, Any], md5: str | None) -> Any:
        rendered: dict[str, Any] = {
            "messageId": ids[index],
            "receiptHandle": handles[index],
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": str(int(sent_at * 1000)),
                "SenderId": esm_server.account,
                "ApproximateFirstReceiveTimestamp": str(int(received_at * 1000)),
            },
            "messageAttributes": attributes,
        }
        if md5 is not None:
            rendered["md5OfMessageAttributes"] = md5
        rendered["md5OfBody"] = hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()
        rendered.update(eventSource="aws:sqs", eventSourceARN=arn, awsRegion="us-east-1")
        return rendered

    def string(value: str, kind: str = "String") -> dict[str, Any]:
        return {
            "stringValue": value,
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": kind,
        }

    expected = {
        "Records": [
            record(
                0,
                '{"orderId": "1001", "status": "NEW"}',
                {
                    "Author": string("John Grisham"),
                    "Title": string("The Whistler"),
                    "WeeksOn": string("6", "Number"),
                },
                "d25a6aea97eb8f585bfa92d314504a92",  # AWS's recorded digest
            ),
            record(
                1,
                '{"orderId": "1002", "status": "NEW"}',
                {"Author": string("John Grisham")},
                "589fd905f137a025c02575957adcd9b1",
            ),
            record(
                2,
                "ünïcode & <xml>",
                {
                    "Thumb": {
                        "binaryValue": base64.b64encode(b"\x00\x01\xffpng").decode(),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "Binary",
                    }
                },
                _attributes_md5(binary),
            ),
            record(3, "plain", {}, None),
        ]
    }
    assert printed == json.dumps(expected), "same members, values and order as AWS's"
    assert event["Records"][0]["md5OfBody"] == "468b5c64801b2f3cb5394df4b75df1c6"
    # The receipt handles are the live ones of this receive.
    for handle in handles:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    assert counts(sqs, url) == (4, 0)


def test_fifo_records_carry_the_fifo_attributes_in_order(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    deploy(lam, name, EVENT_PRINTER)
    url, arn = make_queue(sqs, f"{name}.fifo", FifoQueue="true")
    sent = sqs.send_message(
        QueueUrl=url, MessageBody="first", MessageGroupId="g1", MessageDeduplicationId="d1"
    )
    lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)
    esm_server.poll()
    (printed,) = esm_server.printed(name, prefix="EVENT ")
    attributes = json.loads(printed)["Records"][0]["attributes"]
    assert list(attributes) == [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SequenceNumber",
        "MessageGroupId",
        "SenderId",
        "MessageDeduplicationId",
        "ApproximateFirstReceiveTimestamp",
    ]
    assert (attributes["SequenceNumber"], attributes["MessageGroupId"]) == (
        sent["SequenceNumber"],
        "g1",
    )
    assert attributes["MessageDeduplicationId"] == "d1"


# -- how batches end -----------------------------------------------------------------------


def test_a_successful_batch_is_deleted(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    deploy(lam, name, RECORDER)
    url, arn = make_queue(sqs, name)
    ids = send(sqs, url, *(f"m{i}" for i in range(5)))
    lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)
    esm_server.poll()
    records = esm_server.records(name)
    assert sorted(r["id"] for r in records) == sorted(ids)
    assert {r["batch"] for r in records} == {5}, "one invocation with the five messages"
    assert counts(sqs, url) == (0, 0)
    esm_server.poll()
    assert len(esm_server.records(name)) == 5, "nothing is delivered twice"


def test_a_function_error_returns_the_batch_then_the_dlq_takes_it(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    deploy(lam, name, FAILING)
    dlq_url, dlq_arn = make_queue(sqs, f"{name}-dlq")
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    url, arn = make_queue(sqs, name, RedrivePolicy=policy, VisibilityTimeout="30")
    (message_id,) = send(sqs, url, "poison")
    lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)

    esm_server.poll()
    assert counts(sqs, url) == (0, 1), "in flight until its visibility timeout ends"
    esm_server.poll()
    assert [r["count"] for r in esm_server.records(name)] == ["1"]
    esm_server.clock.advance(31)
    esm_server.poll()
    assert [r["count"] for r in esm_server.records(name)] == ["1", "2"]
    esm_server.clock.advance(31)
    esm_server.poll()  # received twice: the claim moves it to the dead-letter queue
    assert len(esm_server.records(name)) == 2
    assert counts(sqs, url) == (0, 0)
    (dead,) = sqs.receive_message(QueueUrl=dlq_url, AttributeNames=["All"])["Messages"]
    assert (dead["MessageId"], dead["Body"]) == (message_id, "poison")
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == arn


@pytest.mark.parametrize(
    "response",
    ["None", "{}", "{'batchItemFailures': []}", "{'batchItemFailures': None}"],
)
def test_an_empty_batch_response_means_all_succeeded(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str, response: str
) -> None:
    deploy(lam, name, RECORDER + f"    return {response}\n")
    url, arn = make_queue(sqs, name)
    send(sqs, url, "a", "b")
    lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    esm_server.poll()
    assert len(esm_server.records(name)) == 2
    assert counts(sqs, url) == (0, 0)


def test_reported_item_failures_alone_return_to_the_queue(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    deploy(lam, name, PARTIAL)
    url, arn = make_queue(sqs, name)
    ok_1, failing, ok_2 = send(sqs, url, "ok-1", "fail-2", "ok-3")
    lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    esm_server.poll()
    assert counts(sqs, url) == (0, 1), "only the reported record stays"
    esm_server.clock.advance(31)
    esm_server.poll()
    records = esm_server.records(name)
    assert [(r["id"], r["count"]) for r in records[3:]] == [(failing, "2")]
    assert {r["id"] for r in records[:3]} == {ok_1, failing, ok_2}


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(
            "{'batchItemFailures': [{'itemIdentifier': 'not-in-the-batch'}]}", id="unknown-id"
        ),
        pytest.param("{'batchItemFailures': [{'itemIdentifier': ''}]}", id="empty-id"),
        pytest.param("{'batchItemFailures': [{'itemIdentifier': None}]}", id="null-id"),
        pytest.param(
            "{'batchItemFailures': [{'id': event['Records'][0]['messageId']}]}", id="wrong-key"
        ),
        pytest.param("{'batchItemFailures': 'all'}", id="not-a-list"),
        pytest.param("'ok'", id="not-an-object"),
    ],
)
def test_a_malformed_batch_response_fails_the_whole_batch(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str, response: str
) -> None:
    deploy(lam, name, RECORDER + f"    return {response}\n")
    url, arn = make_queue(sqs, name)
    send(sqs, url, "a", "b")
    lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    esm_server.poll()
    assert len(esm_server.records(name)) == 2
    assert counts(sqs, url) == (0, 2), "both records return to the queue"


def test_without_report_batch_item_failures_the_response_is_ignored(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    deploy(lam, name, PARTIAL)
    url, arn = make_queue(sqs, name)
    send(sqs, url, "fail-1", "ok-2")
    lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)
    esm_server.poll()
    assert counts(sqs, url) == (0, 0)


def test_filter_criteria_pass_matching_records_and_delete_the_rest(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    deploy(lam, name, RECORDER)
    url, arn = make_queue(sqs, name)
    send(
        sqs,
        url,
        json.dumps({"kind": "order", "total": 120}),
        json.dumps({"kind": "order", "total": 5}),
        json.dumps({"kind": "refund", "total": 300}),
        "not json at all",
    )
    pattern = {"body": {"kind": ["order"], "total": [{"numeric": [">", 100]}]}}
    lam.create_event_source_mapping(
        FunctionName=name,
        EventSourceArn=arn,
        FilterCriteria={"Filters": [{"Pattern": json.dumps(pattern)}]},
    )
    esm_server.poll()
    assert [json.loads(r["body"]) for r in esm_server.records(name)] == [
        {"kind": "order", "total": 120}
    ]
    assert counts(sqs, url) == (0, 0), "records no filter matches are deleted"
    got = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"][0]
    assert got["FilterCriteria"] == {"Filters": [{"Pattern": json.dumps(pattern)}]}


def test_throttled_invokes_return_the_batch(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    deploy(lam, name, RECORDER)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    url, arn = make_queue(sqs, name)
    send(sqs, url, "later")
    lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)
    esm_server.poll()
    assert esm_server.printed(name) == []
    assert counts(sqs, url) == (0, 1), "throttled: the batch waits out its visibility timeout"
    lam.delete_function_concurrency(FunctionName=name)
    esm_server.clock.advance(31)
    esm_server.poll()
    assert [(r["body"], r["count"]) for r in esm_server.records(name)] == [("later", "2")]
    assert counts(sqs, url) == (0, 0)


def test_the_batching_window_gathers_until_it_ends_or_the_batch_is_full(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    deploy(lam, name, RECORDER)
    url, arn = make_queue(sqs, name)
    lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn, BatchSize=5, MaximumBatchingWindowInSeconds=10
    )
    send(sqs, url, "a", "b", "c")
    esm_server.poll()
    assert esm_server.printed(name) == [], "the window is open: no invocation yet"
    assert counts(sqs, url) == (0, 3), "the gathered messages are held, invisible"
    esm_server.clock.advance(5)
    send(sqs, url, "d")
    esm_server.poll()
    assert esm_server.printed(name) == []
    esm_server.clock.advance(5)
    esm_server.poll()
    records = esm_server.records(name)
    assert sorted(r["body"] for r in records) == ["a", "b", "c", "d"]
    assert {r["batch"] for r in records} == {4}, "one invocation when the window ended"
    assert counts(sqs, url) == (0, 0)

    send(sqs, url, *"efghi")
    esm_server.poll()  # a full batch does not wait for the window
    assert {r["batch"] for r in esm_server.records(name)[4:]} == {5}


def test_maximum_concurrency_caps_the_batches_at_once(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    capped, free = name, f"{name}-free"
    for function in (capped, free):
        deploy(lam, function, SLEEPY)
    capped_url, capped_arn = make_queue(sqs, capped)
    free_url, free_arn = make_queue(sqs, free)
    send(sqs, capped_url, *(f"c{i}" for i in range(6)))
    send(sqs, free_url, *(f"f{i}" for i in range(6)))
    lam.create_event_source_mapping(
        FunctionName=capped,
        EventSourceArn=capped_arn,
        BatchSize=1,
        ScalingConfig={"MaximumConcurrency": 2},
    )
    lam.create_event_source_mapping(FunctionName=free, EventSourceArn=free_arn, BatchSize=1)
    esm_server.poll()
    # One round runs as many one-message batches side by side as the mapping may:
    # two with MaximumConcurrency 2; five (where AWS starts) without it.
    assert counts(sqs, capped_url) == (4, 0)
    assert counts(sqs, free_url) == (1, 0)
    esm_server.poll(3)
    assert counts(sqs, capped_url) == (0, 0)
    assert len(esm_server.records(capped)) == 6
    assert esm_server.sandboxes(capped) == 2, "never more than two invocations at once"
    assert esm_server.sandboxes(free) == 5


def test_a_fifo_group_is_processed_in_order_one_batch_at_a_time(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    # Fails a-2 the first time it sees it: a-3 must wait until a-2 has succeeded.
    source = (
        RECORDER
        + """
        if record["body"] == "a-2" and record["attributes"]["ApproximateReceiveCount"] == "1":
            raise RuntimeError("a-2 failed")
"""
    )
    deploy(lam, name, source)
    url, arn = make_queue(sqs, f"{name}.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    for body in ("a-1", "a-2", "a-3", "b-1", "b-2"):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=body[0])
    lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=1)

    def seen() -> list[tuple[str, str]]:
        return [(r["body"], r["count"]) for r in esm_server.records(name)]

    esm_server.poll()  # one batch per group: the group's next waits for it
    assert sorted(seen()) == [("a-1", "1"), ("b-1", "1")]
    esm_server.poll()
    assert sorted(seen()[2:]) == [("a-2", "1"), ("b-2", "1")]
    esm_server.poll(2)
    assert len(seen()) == 4, "a-3 waits while a-2 is in flight"
    esm_server.clock.advance(31)
    esm_server.poll(3)
    assert [s for s in seen() if s[0].startswith("a")] == [
        ("a-1", "1"),
        ("a-2", "1"),
        ("a-2", "2"),
        ("a-3", "1"),
    ]
    assert counts(sqs, url) == (0, 0)


# -- the queue items of issue 4 ------------------------------------------------------------


def test_a_queue_name_rests_60_seconds_after_deletion(
    esm_server: ClockedServer, sqs: Any, name: str
) -> None:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDeletedRecently) as excinfo:
        sqs.create_queue(QueueName=name)
    assert error_of(excinfo) == (
        "AWS.SimpleQueueService.QueueDeletedRecently",
        "You must wait 60 seconds after deleting a queue before you can create another with "
        "the same name.",
        400,
    )
    esm_server.clock.advance(59)
    with pytest.raises(sqs.exceptions.QueueDeletedRecently):
        sqs.create_queue(QueueName=name)
    esm_server.clock.advance(1)
    assert sqs.create_queue(QueueName=name)["QueueUrl"] == url


def test_a_1_mib_message_goes_through_queue_and_mapping(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    url, arn = make_queue(sqs, name)
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MaximumMessageSize"])
    assert found["Attributes"]["MaximumMessageSize"] == "1048576"
    limit = 1_048_576
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=url, MessageBody="x" * (limit + 1))
    assert error_of(excinfo)[:2] == (
        "InvalidParameterValue",
        "One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes.",
    )
    with pytest.raises(sqs.exceptions.BatchRequestTooLong):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": "y" * 600_000} for i in range(2)],
        )
    # Seven messages of 1 MiB: more than one 6 MB invoke carries, so two batches.
    send(sqs, url, *(str(i) * limit for i in range(7)))
    deploy(lam, name, RECORDER, MemorySize=512)
    lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)
    esm_server.poll()
    records = esm_server.records(name)
    assert sorted(r["body"][0] for r in records) == list("0123456")
    assert {r["size"] for r in records} == {limit}
    assert sorted(r["batch"] for r in records) == [2, 2, 5, 5, 5, 5, 5]
    assert counts(sqs, url) == (0, 0)


def test_a_fifo_batch_cut_by_the_payload_limit_keeps_its_order(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    url, arn = make_queue(sqs, f"{name}.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    for i in range(7):
        sqs.send_message(QueueUrl=url, MessageBody=str(i) * 1_048_576, MessageGroupId="one")
    deploy(lam, name, RECORDER, MemorySize=512)
    lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)
    esm_server.poll()
    assert [r["body"][0] for r in esm_server.records(name)] == list("01234")
    esm_server.poll()
    records = esm_server.records(name)
    assert [r["body"][0] for r in records] == list("0123456")
    assert [r["batch"] for r in records] == [5, 5, 5, 5, 5, 2, 2]
    assert counts(sqs, url) == (0, 0)


# -- several servers -----------------------------------------------------------------------


@pytest.mark.postgres
def test_two_servers_share_mappings_without_double_processing(
    postgres: PostgresServer, tmp_path: Path, name: str
) -> None:
    database = f"esm_{uuid.uuid4().hex[:8]}"
    server_url = make_url(postgres.url)
    with psycopg.connect(
        host=server_url.host,
        port=server_url.port,
        user=server_url.username,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    url = server_url.set(database=database).render_as_string(hide_password=False)
    clock = Clock()
    # One data dir: servers sharing a catalogue share code/ (README, "Configuration").
    first = start_clocked_server(tmp_path / "data", clock, url)
    second = start_clocked_server(tmp_path / "data", clock, url)
    try:
        lam, sqs = first.client(), first.client("sqs")
        deploy(lam, name, RECORDER)
        queue_url, arn = make_queue(sqs, name)
        ids = set(send(sqs, queue_url, *(f"m{i}" for i in range(30))))
        mapping_id = lam.create_event_source_mapping(
            FunctionName=name, EventSourceArn=arn, BatchSize=2
        )["UUID"]

        def both_poll() -> None:
            futures = [
                asyncio.run_coroutine_threadsafe(
                    s.platform.pollers.run_once(), s.platform.engine._loop
                )  # type: ignore[union-attr]
                for s in (first, second)
            ]
            for future in futures:
                future.result(timeout=120)

        both_poll()  # both reconcile Creating -> Enabled; each settles it at most once
        assert second.client().get_event_source_mapping(UUID=mapping_id)["State"] == "Enabled"
        first.poll()  # each on its own once, then side by side
        second.poll()
        for _ in range(6):
            both_poll()
        second.run(second.platform.engine.logs.run_once())  # its functions' output too
        processed = first.records(name)
        assert sorted(r["id"] for r in processed) == sorted(ids), "each message exactly once"
        assert counts(sqs, queue_url) == (0, 0)
        assert first.platform.engine.pool.cold_starts > 0, "both servers took batches"
        assert second.platform.engine.pool.cold_starts > 0

        lam.delete_event_source_mapping(UUID=mapping_id)
        both_poll()
        with pytest.raises(lam.exceptions.ResourceNotFoundException):
            lam.get_event_source_mapping(UUID=mapping_id)
        assert first.platform.pollers.pollers == {} == second.platform.pollers.pollers  # type: ignore[union-attr]
    finally:
        second.stop()
        first.stop()
