"""Redis stream event source mappings through boto3, on real sandboxes and a real
redis-server: registering a stream, the mapping API with Kinesis's members and rules,
AWS's Kinesis event field by field, failure records in a queue, and a restart in the
middle of a batch.

As in the SQS mapping tests (tests/support/mappings.py), the server runs with a clock
the tests move and no polling of its own: tests drive reconcile and rounds with
`run_once()`.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import httpx
import pytest

from tests.support.cli import cli_env, one_line_error, run, succeeded
from tests.support.clock import ManualClock as Clock
from tests.support.mappings import (
    ClockedServer,
    deploy,
    error_of,
    make_queue,
    start_clocked_server,
)
from tests.support.redis import RedisServer, start_redis
from tests.support.servers import ROOT_KEY, ROOT_SECRET

pytestmark = pytest.mark.sandbox
AWS_EXAMPLE = Path(__file__).parents[1] / "fixtures" / "aws-events" / "kinesis-batch.json"

PRINTER = """
import json

def handler(event, context):
    print("EVENT " + json.dumps(event))
"""

# Prints each record's data; fails the whole batch while FAIL is set.
CONSUMER = """
import base64, json, os

def handler(event, context):
    for record in event["Records"]:
        print("RECORD " + base64.b64decode(record["kinesis"]["data"]).decode())
    if os.environ.get("FAIL") == "1":
        raise RuntimeError("cannot process this batch")
"""


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    running = start_redis()
    if running is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def sserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClockedServer]:
    running = start_clocked_server(tmp_path_factory.mktemp("streams"), Clock())
    yield running
    running.stop()


@pytest.fixture
def lam(sserver: ClockedServer) -> Any:
    return sserver.client()


@pytest.fixture
def name() -> str:
    return f"rs-{uuid.uuid4().hex[:12]}"


def own_api(
    endpoint: str,
    method: str,
    path: str,
    document: Any = None,
    key: str = ROOT_KEY,
    secret: str = ROOT_SECRET,
) -> httpx.Response:
    body = json.dumps(document).encode() if document is not None else b""
    request = botocore.awsrequest.AWSRequest(method=method, url=endpoint + path, data=body)
    credentials = botocore.credentials.Credentials(key, secret)
    botocore.auth.SigV4Auth(credentials, "lambda", "us-east-1").add_auth(request)
    return httpx.request(
        method, endpoint + path, content=body, headers=dict(request.headers.items())
    )


def register(server: ClockedServer, redis_server: RedisServer, stream: str) -> str:
    answer = own_api(
        server.endpoint,
        "POST",
        "/_lambdalite/streams",
        {"StreamName": stream, "RedisUrl": redis_server.url},
    )
    assert answer.status_code == 201, answer.text
    arn: str = answer.json()["StreamArn"]
    return arn


def add(redis_server: RedisServer, stream: str, *items: str, **fields: str) -> list[str]:
    client = redis_server.client()
    return [client.xadd(stream, {"data": item, **fields}).decode() for item in items]


def members(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in ("ResponseMetadata", "LastModified")}


def test_a_registered_stream_maps_through_boto3_with_kinesis_members(
    sserver: ClockedServer, redis_server: RedisServer, lam: Any, name: str
) -> None:
    function_arn = deploy(lam, name, PRINTER)
    arn = register(sserver, redis_server, name)
    assert arn == f"arn:aws:kinesis:us-east-1:{sserver.account}:stream/{name}"
    sqs = sserver.client("sqs")
    _, queue_arn = make_queue(sqs, name)
    created = lam.create_event_source_mapping(
        FunctionName=name,
        EventSourceArn=arn,
        StartingPosition="TRIM_HORIZON",
        BatchSize=50,
        MaximumRetryAttempts=3,
        BisectBatchOnFunctionError=True,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    mapping_id = created["UUID"]
    assert members(created) == {
        "UUID": mapping_id,
        "StartingPosition": "TRIM_HORIZON",
        "BatchSize": 50,
        "MaximumBatchingWindowInSeconds": 0,
        "ParallelizationFactor": 1,
        "EventSourceArn": arn,
        "FunctionArn": function_arn,
        "State": "Creating",
        "StateTransitionReason": "USER_INITIATED",
        "DestinationConfig": {"OnFailure": {"Destination": queue_arn}},
        "MaximumRecordAgeInSeconds": -1,
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": 3,
        "TumblingWindowInSeconds": 0,
        "FunctionResponseTypes": [],
        "EventSourceMappingArn": (
            f"arn:aws:lambda:us-east-1:{sserver.account}:event-source-mapping:{mapping_id}"
        ),
    }
    sserver.poll()
    assert lam.get_event_source_mapping(UUID=mapping_id)["State"] == "Enabled"
    updated = lam.update_event_source_mapping(
        UUID=mapping_id, BatchSize=10, MaximumRecordAgeInSeconds=3600, DestinationConfig={}
    )
    assert updated["State"] == "Updating"
    sserver.poll()
    got = lam.get_event_source_mapping(UUID=mapping_id)
    assert (got["State"], got["BatchSize"], got["MaximumRecordAgeInSeconds"]) == (
        "Enabled",
        10,
        3600,
    )
    assert got["DestinationConfig"] == {"OnFailure": {}}
    listed = lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [mapping_id]
    with pytest.raises(lam.exceptions.ResourceConflictException) as twice:
        lam.create_event_source_mapping(
            FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST"
        )
    assert f'An event source mapping with Kinesis arn (" {arn} ")' in error_of(twice)[1]
    # A stream read by a mapping cannot be forgotten.
    busy = own_api(sserver.endpoint, "DELETE", f"/_lambdalite/streams/{name}")
    assert busy.status_code == 400
    assert mapping_id in busy.json()["Message"]
    lam.delete_event_source_mapping(UUID=mapping_id)
    sserver.poll()
    assert own_api(sserver.endpoint, "DELETE", f"/_lambdalite/streams/{name}").status_code == 204


def test_bad_stream_mappings_are_refused_in_aws_words(
    sserver: ClockedServer, redis_server: RedisServer, lam: Any, name: str
) -> None:
    deploy(lam, name, PRINTER)
    arn = register(sserver, redis_server, name)

    def refused(**params: Any) -> str:
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as caught:
            lam.create_event_source_mapping(FunctionName=name, **params)
        message: str = error_of(caught)[1]
        return message

    missing = f"arn:aws:kinesis:us-east-1:{sserver.account}:stream/not-registered"
    assert "Stream not found" in refused(EventSourceArn=missing, StartingPosition="LATEST")
    assert "StartingPosition is required" in refused(EventSourceArn=arn)
    assert "AT_TIMESTAMP" in refused(EventSourceArn=arn, StartingPosition="AT_TIMESTAMP")
    assert "ParallelizationFactor must be 1" in refused(
        EventSourceArn=arn, StartingPosition="LATEST", ParallelizationFactor=2
    )
    assert "between 60 and 604800" in refused(
        EventSourceArn=arn, StartingPosition="LATEST", MaximumRecordAgeInSeconds=30
    )
    queue = f"arn:aws:sqs:us-east-1:{sserver.account}:no-such-queue"
    assert "does not exist" in refused(
        EventSourceArn=arn,
        StartingPosition="LATEST",
        DestinationConfig={"OnFailure": {"Destination": queue}},
    )
    assert "ScalingConfig is not valid for Kinesis" in refused(
        EventSourceArn=arn, StartingPosition="LATEST", ScalingConfig={"MaximumConcurrency": 2}
    )
    assert lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"] == []


def test_only_root_registers_redis_servers_outside_the_allow_list(
    sserver: ClockedServer, redis_server: RedisServer, name: str
) -> None:
    account = own_api(sserver.endpoint, "POST", "/_lambdalite/accounts", {"Name": name})
    theirs = account.json()
    answer = own_api(
        sserver.endpoint,
        "POST",
        "/_lambdalite/streams",
        {"StreamName": name, "RedisUrl": redis_server.url},
        key=theirs["AccessKeyId"],
        secret=theirs["SecretAccessKey"],
    )
    assert answer.status_code == 403
    assert "LAMBDALITE_REDIS_ALLOW" in answer.json()["Message"]
    bad_url = own_api(
        sserver.endpoint,
        "POST",
        "/_lambdalite/streams",
        {"StreamName": name, "RedisUrl": "http://example.com"},
    )
    assert bad_url.status_code == 400


def test_the_function_gets_kinesis_events_field_by_field(
    sserver: ClockedServer, redis_server: RedisServer, lam: Any, name: str
) -> None:
    deploy(lam, name, PRINTER, Role="arn:aws:iam::123456789012:role/lambda-role")
    arn = register(sserver, redis_server, name)
    lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST", BatchSize=10
    )
    first = add(redis_server, name, "Hello, this is a test.", partitionKey="1")
    second = redis_server.client().xadd(name, {"page": "/home", "user": "7"}).decode()
    sserver.poll(2)
    (line,) = sserver.printed(name, "EVENT ")
    records = json.loads(line)["Records"]
    expected = json.loads(AWS_EXAMPLE.read_text())["Records"][0]
    assert [list(r) for r in records] == [list(expected)] * 2, "AWS's members, in its order"
    assert [list(r["kinesis"]) for r in records] == [list(expected["kinesis"])] * 2
    one, two = records
    assert one["kinesis"] == {
        "kinesisSchemaVersion": "1.0",
        "partitionKey": "1",
        "sequenceNumber": first[0],
        "data": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==",  # AWS's example's data, same text
        "approximateArrivalTimestamp": int(first[0].split("-")[0]) / 1000,
    }
    for member in ("eventSource", "eventVersion", "eventName", "invokeIdentityArn"):
        assert one[member] == expected[member]
    assert one["eventID"] == f"shardId-000000000000:{first[0]}"
    assert (one["awsRegion"], one["eventSourceARN"]) == ("us-east-1", arn)
    # An entry without a `data` field is its fields as JSON, keyed by the stream's name.
    assert json.loads(base64.b64decode(two["kinesis"]["data"])) == {"page": "/home", "user": "7"}
    assert two["kinesis"]["partitionKey"] == name
    assert two["kinesis"]["sequenceNumber"] == second


def test_a_discarded_batch_leaves_a_failure_record_in_the_queue(
    sserver: ClockedServer, redis_server: RedisServer, lam: Any, name: str
) -> None:
    deploy(lam, name, CONSUMER, Environment={"Variables": {"FAIL": "1"}})
    arn = register(sserver, redis_server, name)
    sqs = sserver.client("sqs")
    url, queue_arn = make_queue(sqs, name)
    lam.create_event_source_mapping(
        FunctionName=name,
        EventSourceArn=arn,
        StartingPosition="TRIM_HORIZON",
        BatchSize=2,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    ids = add(redis_server, name, "a", "b")
    sserver.poll()
    sserver.clock.advance(10)
    sserver.poll()
    assert sserver.printed(name) == ["a", "b", "a", "b"]
    (message,) = sqs.receive_message(QueueUrl=url).get("Messages", [])
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestContext"]["functionArn"].endswith(f":function:{name}")
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    info = record["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (ids[0], ids[1])
    assert (info["batchSize"], info["streamArn"]) == (2, arn)
    # The range reads the records back.
    found = redis_server.client().xrange(
        name, info["startSequenceNumber"], info["endSequenceNumber"]
    )
    assert [fields[b"data"] for _, fields in found] == [b"a", b"b"]


def test_a_restart_in_the_middle_of_a_batch_neither_skips_nor_reorders(
    tmp_path: Path, redis_server: RedisServer, name: str
) -> None:
    clock = Clock()
    first = start_clocked_server(tmp_path / "data", clock)
    try:
        lam = first.client()
        deploy(lam, name, CONSUMER, Environment={"Variables": {"FAIL": "1"}})
        arn = register(first, redis_server, name)
        lam.create_event_source_mapping(
            FunctionName=name, EventSourceArn=arn, StartingPosition="TRIM_HORIZON", BatchSize=2
        )
        add(redis_server, name, *[f"e{i}" for i in range(5)])
        first.poll(2)  # the first batch fails: read, handed over, never checkpointed
        assert first.printed(name) == ["e0", "e1"]
    finally:
        first.stop()
    second = start_clocked_server(tmp_path / "data", clock)
    try:
        lam = second.client()
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": {}})
        second.poll(4)
        # The log group keeps the first server's lines: e0, e1 ran once more, then the rest.
        assert second.printed(name) == ["e0", "e1", "e0", "e1", "e2", "e3", "e4"]
        info: Any = redis_server.client().xinfo_groups(name)
        assert [g["pending"] for g in info] == [0]
    finally:
        second.stop()


def test_the_cli_registers_lists_maps_and_forgets_streams(
    sserver: ClockedServer, redis_server: RedisServer, lam: Any, name: str, tmp_path: Path
) -> None:
    deploy(lam, name, CONSUMER)
    env = cli_env(sserver.endpoint, tmp_path)
    out = succeeded(run(env, "streams", "add", name, "--redis", redis_server.url, "--key", "k1"))
    arn = f"arn:aws:kinesis:us-east-1:{sserver.account}:stream/{name}"
    assert out == f"{arn} -> redis://127.0.0.1:{redis_server.port}/0 key k1"
    assert name in succeeded(run(env, "streams", "ls"))
    function_arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    out = succeeded(run(env, "streams", "map", name, "--function", name, "--batch-size", "5"))
    assert out.endswith(f"Creating: {arn} -> {function_arn}, batches of up to 5 from LATEST")
    assert "ResourceInUseException" in one_line_error(run(env, "streams", "rm", name))
    missing = one_line_error(run(env, "streams", "map", "nope", "--function", name))
    assert "lambdalite streams add nope" in missing
