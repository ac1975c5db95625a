"""SQS event source mappings on real sandboxes: what functions receive (AWS's event
shape, byte for byte) and how batches end (deleted, returned, redriven, partly failed,
held for a window), with concurrency caps, FIFO order and disabled mappings; the queue
items of issue 4 (QueueDeletedRecently, 1 MiB messages); two servers on one database.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import struct
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError
from psycopg import sql
from sqlalchemy.engine import make_url

from tests.support.clock import ManualClock as Clock
from tests.support.mappings import (
    FAILING,
    PARTIAL,
    RECORDER,
    SLEEPY,
    ClockedServer,
    counts,
    deploy,
    error_of,
    make_queue,
    send,
    start_clocked_server,
)
from tests.support.servers import (
    PostgresServer,
)

pytestmark = pytest.mark.sandbox


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
