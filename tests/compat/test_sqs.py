"""boto3's SQS client against lambdalite's queue service, over HTTP.

The test server mounts the JSON-protocol app beside the platform's app (requests with
X-Amz-Target go to it), with a QueueService on a clock the tests move. Every client
checks response shapes against the model and every MD5 SQS returns against what was
sent or received, with its own implementation of SQS's digest.
"""

from __future__ import annotations

import copy
import hashlib
import json
import struct
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from lambdalite.api.auth import Authenticator
from lambdalite.api.json_protocol import JsonProtocolApi, JsonProtocolRouter
from lambdalite.api.sqs import SqsApi
from lambdalite.queues import QueueService
from lambdalite.queues.names import parse_queue_url
from lambdalite.server import Platform, build_platform
from lambdalite.settings import Settings
from tests.support.clock import ManualClock as Clock
from tests.support.servers import ROOT_KEY, ROOT_SECRET, ServedApp, boto_client, serve_app


@dataclass
class SqsServer:
    data_dir: Path
    clock: Clock
    platform: Platform
    queues: QueueService
    served: ServedApp

    @property
    def endpoint(self) -> str:
        return self.served.endpoint

    def client(self, key: str = ROOT_KEY, secret: str = ROOT_SECRET, validate: bool = True) -> Any:
        client = boto_client(self.endpoint, "sqs", key, secret, validate)
        client.meta.events.register("before-parameter-build.sqs.*", _remember_params)
        client.meta.events.register("after-call.sqs.*", _check_md5s)
        return client

    def stop(self) -> None:
        self.served.stop()
        self.platform.close()


def start_sqs_server(data_dir: Path, clock: Clock) -> SqsServer:
    settings = Settings(
        data_dir=data_dir, root_access_key_id=ROOT_KEY, root_secret_access_key=ROOT_SECRET
    )
    platform = build_platform(settings)
    # A long re-check interval: a long poll that returns quickly was woken by the send.
    queues = QueueService(platform.db, settings.region, clock=clock, recheck_interval_s=30)
    auth = Authenticator(platform.accounts, settings.max_clock_skew_seconds)
    json_api = JsonProtocolApi([SqsApi(queues)], auth, max_request_bytes=4 * 1024 * 1024)
    # As the server will mount it: X-Amz-Target requests to the JSON app, the rest on.
    platform.app.add_middleware(JsonProtocolRouter, json_api=json_api)
    return SqsServer(data_dir, clock, platform, queues, serve_app(platform.app))


@pytest.fixture(scope="module")
def sqs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqsServer]:
    running = start_sqs_server(tmp_path_factory.mktemp("sqs"), Clock())
    yield running
    running.stop()


@pytest.fixture
def sqs(sqs_server: SqsServer) -> Any:
    return sqs_server.client()


@pytest.fixture
def name() -> str:
    return f"q-{uuid.uuid4().hex[:12]}"


# -- MD5 checks, independent of lambdalite.queues.md5 ----------------------------------


def _md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _attributes_md5(attributes: dict[str, Any]) -> str:
    """ "Calculating the MD5 message digest for message attributes" (SQS Developer Guide)."""
    out = bytearray()

    def put(data: bytes) -> None:
        out.extend(struct.pack("!I", len(data)))
        out.extend(data)

    for attr_name in sorted(attributes):
        value = attributes[attr_name]
        put(attr_name.encode())
        put(value["DataType"].encode())
        if "BinaryValue" in value:
            out.append(2)
            put(value["BinaryValue"])
        else:
            out.append(1)
            put(value["StringValue"].encode())
    return _md5_hex(bytes(out))


def _remember_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["sent"] = copy.deepcopy(params)


def _check_md5s(
    http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
) -> None:
    if http_response.status_code >= 300:
        return
    sent = context.get("sent", {})
    if model.name == "SendMessage":
        _check_sent(sent, parsed)
    elif model.name == "SendMessageBatch":
        by_id = {entry["Id"]: entry for entry in sent["Entries"]}
        for result in parsed["Successful"]:
            _check_sent(by_id[result["Id"]], result)
    elif model.name == "ReceiveMessage":
        for message in parsed.get("Messages", []):
            assert message["MD5OfBody"] == _md5_hex(message["Body"].encode())
            if message.get("MessageAttributes"):
                assert message["MD5OfMessageAttributes"] == _attributes_md5(
                    message["MessageAttributes"]
                )
            else:
                assert "MD5OfMessageAttributes" not in message


def _check_sent(sent: dict[str, Any], result: dict[str, Any]) -> None:
    assert result["MD5OfMessageBody"] == _md5_hex(sent["MessageBody"].encode())
    if sent.get("MessageAttributes"):
        assert result["MD5OfMessageAttributes"] == _attributes_md5(sent["MessageAttributes"])
    if sent.get("MessageSystemAttributes"):
        assert result["MD5OfMessageSystemAttributes"] == _attributes_md5(
            sent["MessageSystemAttributes"]
        )


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def counts(sqs: Any, url: str) -> tuple[int, int, int]:
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    visible, hidden, delayed = (int(found[n]) for n in names)
    return visible, hidden, delayed


# -- queues ----------------------------------------------------------------------------


def test_queue_lifecycle(sqs_server: SqsServer, sqs: Any, name: str) -> None:
    account = sqs_server.platform.root.account.account_id
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"})["QueueUrl"]
    assert url == f"{sqs_server.endpoint}/{account}/{name}"
    # Same attributes: the same queue. Different ones: QueueNameExists.
    assert (
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"})["QueueUrl"] == url
    )
    with pytest.raises(sqs.exceptions.QueueNameExists) as exists:
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "46"})
    assert error_of(exists)[0] == "QueueAlreadyExists"
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url

    for suffix in ("b", "c"):
        sqs.create_queue(QueueName=f"{name}-{suffix}")
    listed = sqs.list_queues(QueueNamePrefix=name)["QueueUrls"]
    assert listed == [url, f"{url}-b", f"{url}-c"]
    page = sqs.list_queues(QueueNamePrefix=name, MaxResults=2)
    assert page["QueueUrls"] == [url, f"{url}-b"]
    rest = sqs.list_queues(QueueNamePrefix=name, MaxResults=2, NextToken=page["NextToken"])
    assert rest["QueueUrls"] == [f"{url}-c"] and "NextToken" not in rest

    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as missing:
        sqs.get_queue_url(QueueName=name)
    assert error_of(missing) == (
        "AWS.SimpleQueueService.NonExistentQueue",
        "The specified queue does not exist.",
        400,
    )
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.send_message(QueueUrl=url, MessageBody="x")
    assert url not in sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", [])


def test_queue_attributes(sqs_server: SqsServer, sqs: Any, name: str) -> None:
    account = sqs_server.platform.root.account.account_id
    url = sqs.create_queue(QueueName=name, tags={"team": "a"})["QueueUrl"]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert found["QueueArn"] == f"arn:aws:sqs:us-east-1:{account}:{name}"
    assert (found["VisibilityTimeout"], found["MessageRetentionPeriod"]) == ("30", "345600")
    assert (found["MaximumMessageSize"], found["DelaySeconds"]) == ("1048576", "0")
    assert found["ReceiveMessageWaitTimeSeconds"] == "0"
    assert found["CreatedTimestamp"] == str(int(sqs_server.clock.now))
    assert "FifoQueue" not in found

    sqs_server.clock.advance(5)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "120"})
    found = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["VisibilityTimeout", "LastModifiedTimestamp"]
    )["Attributes"]
    assert found == {
        "VisibilityTimeout": "120",
        "LastModifiedTimestamp": str(int(sqs_server.clock.now)),
    }
    with pytest.raises(sqs.exceptions.InvalidAttributeValue):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "43201"})
    with pytest.raises(sqs.exceptions.InvalidAttributeName) as unknown:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Color": "blue"})
    assert error_of(unknown)[:2] == ("InvalidAttributeName", "Unknown Attribute Color.")

    sqs.tag_queue(QueueUrl=url, Tags={"env": "dev"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "dev"}


# -- messages --------------------------------------------------------------------------


def test_send_receive_delete_round_trips_every_attribute_type(sqs: Any, name: str) -> None:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    attributes = {
        "Author": {"DataType": "String", "StringValue": "John Grisham"},
        "WeeksOn": {"DataType": "Number", "StringValue": "6"},
        "Cover": {"DataType": "Binary", "BinaryValue": b"\x00\xffjpeg"},
        "Edition": {"DataType": "String.paperback", "StringValue": "2nd"},
    }
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody="The Whistler ✓",
        MessageAttributes=attributes,
        MessageSystemAttributes={
            "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988"}
        },
    )
    assert counts(sqs, url) == (1, 0, 0)
    (message,) = sqs.receive_message(
        QueueUrl=url,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
    )["Messages"]
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == "The Whistler ✓"
    assert message["MessageAttributes"] == attributes
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert message["Attributes"]["AWSTraceHeader"] == "Root=1-5759e988"
    assert set(message["Attributes"]) >= {"SenderId", "SentTimestamp"}
    assert counts(sqs, url) == (0, 1, 0)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert counts(sqs, url) == (0, 0, 0)


def test_receive_returns_only_the_attributes_asked_for(sqs: Any, name: str) -> None:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message(
        QueueUrl=url,
        MessageBody="b",
        MessageAttributes={
            "trace.id": {"DataType": "String", "StringValue": "1"},
            "trace.span": {"DataType": "Number", "StringValue": "2"},
            "other": {"DataType": "String", "StringValue": "3"},
        },
    )
    (message,) = sqs.receive_message(
        QueueUrl=url,
        MessageAttributeNames=["trace.*"],
        AttributeNames=["ApproximateReceiveCount"],
    )["Messages"]
    assert set(message["MessageAttributes"]) == {"trace.id", "trace.span"}
    assert message["Attributes"] == {"ApproximateReceiveCount": "1"}


def test_batches_report_partial_failures(sqs: Any, name: str) -> None:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    result = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "ok-1", "MessageBody": "one"},
            {"Id": "bad-char", "MessageBody": "nul\x00"},
            {
                "Id": "bad-number",
                "MessageBody": "x",
                "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "many"}},
            },
            {"Id": "ok-2", "MessageBody": "two", "DelaySeconds": 0},
        ],
    )
    assert sorted(e["Id"] for e in result["Successful"]) == ["ok-1", "ok-2"]
    failed = {e["Id"]: e for e in result["Failed"]}
    assert failed["bad-char"]["Code"] == "InvalidMessageContents"
    assert failed["bad-number"]["Code"] == "InvalidParameterValue"
    assert all(e["SenderFault"] for e in failed.values())

    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in received) == ["one", "two"]
    deleted = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "a", "ReceiptHandle": received[0]["ReceiptHandle"]},
            {"Id": "b", "ReceiptHandle": "forged"},
        ],
    )
    assert [e["Id"] for e in deleted["Successful"]] == ["a"]
    assert [(e["Id"], e["Code"]) for e in deleted["Failed"]] == [("b", "ReceiptHandleIsInvalid")]
    changed = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "a", "ReceiptHandle": received[1]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "b", "ReceiptHandle": "forged", "VisibilityTimeout": 0},
        ],
    )
    assert [e["Id"] for e in changed["Successful"]] == ["a"]
    assert [e["Id"] for e in changed["Failed"]] == ["b"]
    assert counts(sqs, url) == (1, 0, 0)


@pytest.mark.parametrize(
    ("entries", "exception", "code"),
    [
        ([], "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest"),
        (
            [{"Id": str(i), "MessageBody": "x"} for i in range(11)],
            "TooManyEntriesInBatchRequest",
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        ),
        (
            [{"Id": "same", "MessageBody": "x"}, {"Id": "same", "MessageBody": "y"}],
            "BatchEntryIdsNotDistinct",
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        ),
        (
            [{"Id": "has space", "MessageBody": "x"}],
            "InvalidBatchEntryId",
            "AWS.SimpleQueueService.InvalidBatchEntryId",
        ),
        (
            [{"Id": str(i), "MessageBody": "x" * 400_000} for i in range(3)],
            "BatchRequestTooLong",
            "AWS.SimpleQueueService.BatchRequestTooLong",
        ),
    ],
)
def test_a_malformed_batch_is_refused_whole(
    sqs_server: SqsServer, name: str, entries: list[Any], exception: str, code: str
) -> None:
    sqs = sqs_server.client(validate=False)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    with pytest.raises(getattr(sqs.exceptions, exception)) as excinfo:
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert error_of(excinfo)[0] == code
    assert counts(sqs, url) == (0, 0, 0)


def test_visibility_timeout_expiry_redelivers(sqs_server: SqsServer, sqs: Any, name: str) -> None:
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="work")
    ask = {"QueueUrl": url, "MessageSystemAttributeNames": ["ApproximateReceiveCount"]}
    (first,) = sqs.receive_message(**ask)["Messages"]
    assert "Messages" not in sqs.receive_message(**ask)
    sqs_server.clock.advance(31)
    (second,) = sqs.receive_message(**ask)["Messages"]
    assert second["MessageId"] == first["MessageId"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    # A per-receive VisibilityTimeout overrides the queue's.
    sqs_server.clock.advance(31)
    assert len(sqs.receive_message(**ask, VisibilityTimeout=5)["Messages"]) == 1
    sqs_server.clock.advance(6)
    (fourth,) = sqs.receive_message(**ask)["Messages"]
    assert fourth["Attributes"]["ApproximateReceiveCount"] == "4"
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=fourth["ReceiptHandle"], VisibilityTimeout=0
    )
    assert sqs.receive_message(**ask)["Messages"][0]["MessageId"] == first["MessageId"]


def test_redrive_moves_a_message_to_the_dead_letter_queue(
    sqs_server: SqsServer, sqs: Any, name: str
) -> None:
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    url = sqs.create_queue(
        QueueName=name, Attributes={"VisibilityTimeout": "10", "RedrivePolicy": policy}
    )["QueueUrl"]
    sent = sqs.send_message(QueueUrl=url, MessageBody="poison")
    for _ in range(2):
        assert len(sqs.receive_message(QueueUrl=url)["Messages"]) == 1
        sqs_server.clock.advance(11)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    (moved,) = sqs.receive_message(QueueUrl=dlq, MessageSystemAttributeNames=["All"])["Messages"]
    assert moved["MessageId"] == sent["MessageId"]
    assert moved["Body"] == "poison"
    assert moved["Attributes"]["DeadLetterQueueSourceArn"].endswith(f":{name}")
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [url]


def test_long_polling_returns_as_soon_as_a_message_is_sent(
    sqs_server: SqsServer, sqs: Any, name: str
) -> None:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    results: list[dict[str, Any]] = []
    receiver = threading.Thread(
        target=lambda: results.append(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5))
    )
    started = time.monotonic()
    receiver.start()
    ref = parse_queue_url(url)
    while sqs_server.queues.waiters.waiting(ref) == 0:
        assert time.monotonic() - started < 4, "the receive never started waiting"
        time.sleep(0.01)
    sqs_server.client().send_message(QueueUrl=url, MessageBody="wake up")
    receiver.join(timeout=10)
    elapsed = time.monotonic() - started
    assert [m["Body"] for m in results[0]["Messages"]] == ["wake up"]
    assert elapsed < 4  # woken by the send, not the 5 s timeout


def test_a_long_poll_with_nothing_sent_waits_then_returns_empty(sqs: Any, name: str) -> None:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    started = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert time.monotonic() - started >= 0.9


def test_purge_queue(sqs: Any, name: str) -> None:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    sqs.purge_queue(QueueUrl=url)
    assert counts(sqs, url) == (0, 0, 0)
    with pytest.raises(sqs.exceptions.PurgeQueueInProgress):
        sqs.purge_queue(QueueUrl=url)


def test_fifo_queue_orders_and_deduplicates(sqs: Any, name: str) -> None:
    url = sqs.create_queue(
        QueueName=f"{name}.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    first = sqs.send_message(QueueUrl=url, MessageBody="1", MessageGroupId="g")
    again = sqs.send_message(QueueUrl=url, MessageBody="1", MessageGroupId="g")
    assert again["MessageId"] == first["MessageId"]
    second = sqs.send_message(QueueUrl=url, MessageBody="2", MessageGroupId="g")
    assert int(second["SequenceNumber"]) > int(first["SequenceNumber"])
    received = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in received] == ["1", "2"]
    assert received[0]["Attributes"]["MessageGroupId"] == "g"
    with pytest.raises(ClientError) as no_group:
        sqs.send_message(QueueUrl=url, MessageBody="3")
    assert error_of(no_group)[:2] == (
        "MissingParameter",
        "The request must contain the parameter MessageGroupId.",
    )


# -- hostile input ---------------------------------------------------------------------


def test_an_oversized_message_is_refused(sqs: Any, name: str) -> None:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=url, MessageBody="x" * 1_048_577)
    assert error_of(excinfo) == (
        "InvalidParameterValue",
        "One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes.",
        400,
    )
    assert counts(sqs, url) == (0, 0, 0)
    sqs.send_message(QueueUrl=url, MessageBody="x" * 1_048_576)  # exactly the limit is fine


def test_unencodable_text_is_refused_not_a_server_error(sqs: Any, name: str) -> None:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    with pytest.raises(ClientError) as body:
        sqs.send_message(QueueUrl=url, MessageBody="lone \ud800 surrogate")
    assert error_of(body)[::2] == ("InvalidMessageContents", 400)
    with pytest.raises(ClientError) as attribute:
        sqs.send_message(
            QueueUrl=url,
            MessageBody="x",
            MessageAttributes={"a": {"DataType": "String", "StringValue": "\udfff"}},
        )
    assert error_of(attribute)[::2] == ("InvalidParameterValue", 400)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="bad\ud800name")
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.send_message(QueueUrl=f"{url}\ud800", MessageBody="x")
    assert counts(sqs, url) == (0, 0, 0)


def test_a_bad_receipt_handle_is_invalid(sqs: Any, name: str) -> None:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="keep")
    for handle in ("garbage", "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a"):
        with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid) as excinfo:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
        assert error_of(excinfo)[0] == "ReceiptHandleIsInvalid"
    assert counts(sqs, url) == (1, 0, 0)


def test_another_accounts_queue_does_not_exist(sqs_server: SqsServer, sqs: Any, name: str) -> None:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="mine")
    _, key = sqs_server.platform.accounts.create(f"other-{name}")
    other = sqs_server.client(key=key.access_key_id, secret=key.secret_access_key)
    owner = url.split("/")[-2]
    calls = [
        lambda: other.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=owner),
        lambda: other.send_message(QueueUrl=url, MessageBody="theirs"),
        lambda: other.receive_message(QueueUrl=url),
        lambda: other.purge_queue(QueueUrl=url),
        lambda: other.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]),
        lambda: other.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "9"}),
        lambda: other.tag_queue(QueueUrl=url, Tags={"stolen": "yes"}),
        lambda: other.delete_queue(QueueUrl=url),
    ]
    for call in calls:
        with pytest.raises(other.exceptions.QueueDoesNotExist) as excinfo:
            call()
        assert error_of(excinfo)[1] == "The specified queue does not exist."
    with pytest.raises(other.exceptions.QueueDoesNotExist):
        other.get_queue_url(QueueName=name)  # not in their account by name either
    assert "QueueUrls" not in other.list_queues(QueueNamePrefix=name)
    # Nothing changed: the message is still there, unreceived, and the queue as it was.
    assert counts(sqs, url) == (1, 0, 0)
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds"])[
        "Attributes"
    ] == {"DelaySeconds": "0"}
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=url)


def _signed_post(endpoint: str, target: str, body: bytes) -> tuple[int, dict[str, Any], Any]:
    request = AWSRequest(
        method="POST",
        url=f"{endpoint}/",
        data=body,
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"},
    )
    SigV4Auth(Credentials(ROOT_KEY, ROOT_SECRET), "sqs", "us-east-1").add_auth(request)
    raw = urllib.request.Request(
        request.url, data=body, headers=dict(request.headers.items()), method="POST"
    )
    try:
        with urllib.request.urlopen(raw) as response:
            return response.status, json.loads(response.read()), response.headers
    except HTTPError as error:
        return error.code, json.loads(error.read()), error.headers


def test_requests_without_a_target_still_reach_the_lambda_api(sqs_server: SqsServer) -> None:
    lam = boto3.client(
        "lambda",
        endpoint_url=sqs_server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=ROOT_KEY,
        aws_secret_access_key=ROOT_SECRET,
    )
    assert lam.list_functions()["Functions"] == []
    with urllib.request.urlopen(f"{sqs_server.endpoint}/health") as response:
        assert json.loads(response.read())["status"] == "ok"


def test_malformed_json_and_unknown_targets_get_json_errors(sqs_server: SqsServer) -> None:
    status, body, headers = _signed_post(sqs_server.endpoint, "AmazonSQS.ListQueues", b"{oops")
    assert status == 400
    assert body["__type"].endswith("SerializationException")
    assert headers["Content-Type"] == "application/x-amz-json-1.0"

    status, body, _ = _signed_post(
        sqs_server.endpoint, "AmazonSQS.SendMessage", b'{"QueueUrl": 7, "MessageBody": "x"}'
    )
    assert (status, body["__type"].rpartition("#")[2]) == (400, "SerializationException")

    status, body, _ = _signed_post(sqs_server.endpoint, "AmazonSQS.Explode", b"{}")
    assert (status, body["__type"].rpartition("#")[2]) == (400, "UnknownOperationException")
    status, body, _ = _signed_post(sqs_server.endpoint, "NoSuchService.Op", b"{}")
    assert (status, body["__type"].rpartition("#")[2]) == (400, "UnknownOperationException")

    status, body, headers = _signed_post(sqs_server.endpoint, "AmazonSQS.SendMessage", b"{}")
    assert (status, body["message"]) == (400, "The request must contain the parameter QueueUrl.")
    assert headers["x-amzn-query-error"] == "MissingParameter;Sender"


def test_unsupported_operations_and_bad_signatures_are_named(
    sqs_server: SqsServer, sqs: Any, name: str
) -> None:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    with pytest.raises(sqs.exceptions.UnsupportedOperation) as excinfo:
        sqs.add_permission(QueueUrl=url, Label="l", AWSAccountIds=["1"], Actions=["*"])
    assert error_of(excinfo)[0] == "AWS.SimpleQueueService.UnsupportedOperation"
    forged = sqs_server.client(secret="wrong-secret-wrong-secret-wrong-secret-00")
    with pytest.raises(ClientError) as denied:
        forged.send_message(QueueUrl=url, MessageBody="x")
    assert error_of(denied)[::2] == ("SignatureDoesNotMatch", 403)
    assert counts(sqs, url) == (0, 0, 0)


# -- durability ------------------------------------------------------------------------


def test_messages_survive_a_server_restart(tmp_path: Path) -> None:
    clock = Clock()
    first = start_sqs_server(tmp_path / "data", clock)
    try:
        sqs = first.client()
        url = sqs.create_queue(QueueName="durable")["QueueUrl"]
        sent = sqs.send_message(
            QueueUrl=url,
            MessageBody="still here",
            MessageAttributes={"k": {"DataType": "Binary", "BinaryValue": b"\x01\x02"}},
        )
        in_flight = sqs.send_message(QueueUrl=url, MessageBody="in flight")
        sqs.receive_message(QueueUrl=url)  # takes the older one; both must survive
    finally:
        first.stop()
    second = start_sqs_server(tmp_path / "data", clock)
    try:
        sqs = second.client()
        url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
        clock.advance(31)  # past the visibility timeout of the receive before the restart
        received = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )["Messages"]
        by_id = {m["MessageId"]: m for m in received}
        assert set(by_id) == {sent["MessageId"], in_flight["MessageId"]}
        assert by_id[sent["MessageId"]]["MessageAttributes"]["k"]["BinaryValue"] == b"\x01\x02"
    finally:
        second.stop()
