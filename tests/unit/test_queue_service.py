"""QueueService semantics on a fake clock: visibility, delays, redrive, retention, FIFO,
batches, purge and long polling, against a real (SQLite) store."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lambdalite.queues import QueueRef, QueueService
from lambdalite.queues.errors import (
    InvalidParameterValue,
    MessageNotInflight,
    MissingParameter,
    PurgeQueueInProgress,
    QueueDoesNotExist,
    QueueNameExists,
    ReceiptHandleIsInvalid,
    SqsError,
)
from lambdalite.queues.md5 import md5_of_attributes, md5_of_body
from lambdalite.queues.model import (
    AttributeValue,
    OutgoingMessage,
    ReceivedMessage,
    ReceiveRequest,
    SendResult,
    system_attributes,
)
from lambdalite.store.database import Database
from tests.support.databases import BACKENDS, migrated_database

ACCOUNT = "111122223333"
START = 1_700_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database with one account, on SQLite and on PostgreSQL (whose row locks
    the claims rely on where SQLite serialises writers)."""
    with migrated_database(request, tmp_path, ACCOUNT) as database:
        yield database


@pytest.fixture
def service(db: Database, clock: FakeClock) -> QueueService:
    # A long re-check interval: a long poll that returns quickly was woken by a send.
    return QueueService(db, "us-east-1", clock=clock, recheck_interval_s=30)


def make(service: QueueService, name: str, **attributes: str) -> QueueRef:
    return service.create_queue(ACCOUNT, name, attributes, {}).ref


def send(service: QueueService, ref: QueueRef, body: str, **fields: object) -> SendResult:
    (result,) = service.send(ref, ACCOUNT, [OutgoingMessage(body, **fields)])  # type: ignore[arg-type]
    assert isinstance(result, SendResult), result
    return result


def receive(
    service: QueueService, ref: QueueRef, count: int = 10, **kw: int
) -> list[ReceivedMessage]:
    return service.receive_now(ref, ReceiveRequest(max_messages=count, **kw))


def bodies(received: list[ReceivedMessage]) -> list[str]:
    return [r.message.body for r in received]


def test_md5_of_attributes_is_awss() -> None:
    # Values recorded from AWS (aws-reference/events/sqs-batch.json).
    three = {
        "Author": AttributeValue("String", "John Grisham"),
        "Title": AttributeValue("String", "The Whistler"),
        "WeeksOn": AttributeValue("Number", "6"),
    }
    assert md5_of_attributes(three) == "d25a6aea97eb8f585bfa92d314504a92"
    assert md5_of_attributes({"Author": three["Author"]}) == "589fd905f137a025c02575957adcd9b1"
    assert md5_of_body('{"orderId": "1001", "status": "NEW"}') == "468b5c64801b2f3cb5394df4b75df1c6"
    assert md5_of_attributes({}) is None


def test_a_received_message_is_hidden_until_its_visibility_timeout(
    service: QueueService, clock: FakeClock
) -> None:
    ref = make(service, "q", VisibilityTimeout="30")
    sent = send(service, ref, "hello")
    (first,) = receive(service, ref)
    assert first.message.message_id == sent.message_id
    assert system_attributes(first.message)["ApproximateReceiveCount"] == "1"
    assert receive(service, ref) == []
    clock.advance(29)
    assert receive(service, ref) == []
    clock.advance(2)
    (second,) = receive(service, ref)
    attrs = system_attributes(second.message)
    assert attrs["ApproximateReceiveCount"] == "2"
    # The first receive's time stays the first receive's.
    assert attrs["ApproximateFirstReceiveTimestamp"] == str(int(START * 1000))
    assert attrs["SentTimestamp"] == str(int(START * 1000))
    assert second.receipt_handle != first.receipt_handle


def test_a_stale_receipt_deletes_nothing_and_the_latest_deletes(
    service: QueueService, clock: FakeClock
) -> None:
    ref = make(service, "q", VisibilityTimeout="10")
    send(service, ref, "m")
    (old,) = receive(service, ref)
    clock.advance(11)
    receive(service, ref)
    service.delete_message(ref, old.receipt_handle)  # succeeds, as on AWS
    clock.advance(11)
    (latest,) = receive(service, ref)  # still there
    service.delete_message(ref, latest.receipt_handle)
    clock.advance(100)
    assert receive(service, ref) == []


def test_change_visibility_extends_and_releases(service: QueueService, clock: FakeClock) -> None:
    ref = make(service, "q", VisibilityTimeout="10")
    send(service, ref, "m")
    (got,) = receive(service, ref)
    service.change_visibility(ref, got.receipt_handle, 100)
    clock.advance(50)
    assert receive(service, ref) == []
    service.change_visibility(ref, got.receipt_handle, 0)
    (again,) = receive(service, ref)
    clock.advance(11)
    with pytest.raises(MessageNotInflight):
        service.change_visibility(ref, again.receipt_handle, 5)
    with pytest.raises(ReceiptHandleIsInvalid):
        service.change_visibility(ref, got.receipt_handle, 5)  # an earlier receive's


def test_delays_per_queue_and_per_message(service: QueueService, clock: FakeClock) -> None:
    ref = make(service, "q", DelaySeconds="20")
    send(service, ref, "queue-delay")
    send(service, ref, "message-delay", delay_seconds=5)
    counts = service.attributes(ref, ["All"])
    assert counts["ApproximateNumberOfMessagesDelayed"] == "2"
    assert receive(service, ref) == []
    clock.advance(5)
    assert bodies(receive(service, ref)) == ["message-delay"]
    clock.advance(15)
    assert bodies(receive(service, ref)) == ["queue-delay"]
    counts = service.attributes(ref, ["All"])
    assert (
        counts["ApproximateNumberOfMessages"],
        counts["ApproximateNumberOfMessagesNotVisible"],
    ) == (
        "0",
        "2",
    )


def test_redrive_to_the_dead_letter_queue_after_max_receive_count(
    service: QueueService, clock: FakeClock
) -> None:
    dlq = make(service, "dlq")
    policy = f'{{"deadLetterTargetArn":"{dlq.arn("us-east-1")}","maxReceiveCount":"2"}}'
    ref = make(service, "q", VisibilityTimeout="10", RedrivePolicy=policy)
    sent = send(service, ref, "poison")
    for count in (1, 2):
        (got,) = receive(service, ref)
        assert got.message.receive_count == count
        clock.advance(11)
    assert receive(service, ref) == []  # the third attempt moves it instead
    (moved,) = receive(service, dlq)
    assert moved.message.message_id == sent.message_id
    assert system_attributes(moved.message)["DeadLetterQueueSourceArn"] == ref.arn("us-east-1")
    # A standard queue's message keeps its enqueue time ("Using dead-letter queues").
    assert moved.message.sent_at == START
    assert [q.ref for q in service.dead_letter_sources(dlq)] == [ref]
    assert service.attributes(ref, ["RedrivePolicy"])["RedrivePolicy"] == (
        f'{{"deadLetterTargetArn":"{dlq.arn("us-east-1")}","maxReceiveCount":2}}'
    )


def test_a_redrive_policy_needs_an_existing_target(service: QueueService) -> None:
    policy = '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:111122223333:nope","maxReceiveCount":3}'
    with pytest.raises(InvalidParameterValue, match="Dead-letter target does not exist"):
        make(service, "q", RedrivePolicy=policy)


async def test_retention_expiry_by_run_once(service: QueueService, clock: FakeClock) -> None:
    ref = make(service, "q", MessageRetentionPeriod="60")
    send(service, ref, "old")
    clock.advance(30)
    send(service, ref, "young")
    assert await service.run_once(START + 59) == 0
    assert await service.run_once(START + 60) == 1
    assert service.attributes(ref, ["ApproximateNumberOfMessages"]) == {
        "ApproximateNumberOfMessages": "1"
    }
    assert bodies(receive(service, ref)) == ["young"]


def test_expired_messages_are_never_delivered_even_before_the_reaper(
    service: QueueService, clock: FakeClock
) -> None:
    ref = make(service, "q", MessageRetentionPeriod="60")
    send(service, ref, "old")
    clock.advance(60)
    assert receive(service, ref) == []


def test_fifo_delivers_each_group_in_order_one_batch_in_flight_at_a_time(
    service: QueueService, clock: FakeClock
) -> None:
    ref = make(service, "jobs.fifo", FifoQueue="true", VisibilityTimeout="10")
    for body, group in (("a1", "a"), ("b1", "b"), ("a2", "a"), ("b2", "b")):
        send(service, ref, body, group_id=group, deduplication_id=body)
    first = receive(service, ref, count=1)
    assert bodies(first) == ["a1"]
    # Group a is blocked while a1 is in flight; group b goes on in order.
    assert bodies(receive(service, ref, count=10)) == ["b1", "b2"]
    assert receive(service, ref) == []
    service.delete_message(ref, first[0].receipt_handle)
    (a2,) = receive(service, ref)
    assert a2.message.body == "a2"
    assert system_attributes(a2.message)["MessageGroupId"] == "a"
    assert int(a2.message.sequence_number or 0) > int(first[0].message.sequence_number or 0)


def test_fifo_deduplicates_for_five_minutes(service: QueueService, clock: FakeClock) -> None:
    ref = make(service, "d.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    one = send(service, ref, "same", group_id="g")
    two = send(service, ref, "same", group_id="g")
    assert two.message_id == one.message_id
    explicit = send(service, ref, "same", group_id="g", deduplication_id="other")
    assert explicit.message_id != one.message_id
    clock.advance(301)
    three = send(service, ref, "same", group_id="g")
    assert three.message_id != one.message_id
    assert len(receive(service, ref)) == 3


def test_fifo_checks_its_own_parameters(service: QueueService) -> None:
    ref = make(service, "f.fifo", FifoQueue="true")
    (no_group, no_dedup, delay) = service.send(
        ref,
        ACCOUNT,
        [
            OutgoingMessage("x", deduplication_id="1"),
            OutgoingMessage("x", group_id="g"),
            OutgoingMessage("x", group_id="g", deduplication_id="2", delay_seconds=3),
        ],
    )
    assert isinstance(no_group, MissingParameter)
    assert isinstance(no_dedup, InvalidParameterValue)
    assert isinstance(delay, InvalidParameterValue)
    with pytest.raises(SqsError):
        make(service, "notfifo", FifoQueue="true")


def test_a_batch_stores_the_good_entries_and_reports_the_bad(service: QueueService) -> None:
    ref = make(service, "q", MaximumMessageSize="1024")
    results = service.send(
        ref,
        ACCOUNT,
        [
            OutgoingMessage("ok-1"),
            OutgoingMessage("x" * 1025),
            OutgoingMessage("bad\x00char"),
            OutgoingMessage("ok-2", {"n": AttributeValue("Number", "not-a-number")}),
            OutgoingMessage("ok-3"),
        ],
    )
    kinds = [type(r).__name__ for r in results]
    assert kinds == [
        "SendResult",
        "InvalidParameterValue",
        "InvalidMessageContents",
        "InvalidParameterValue",
        "SendResult",
    ]
    assert "Message must be shorter than 1024 bytes" in str(results[1])
    assert sorted(bodies(receive(service, ref))) == ["ok-1", "ok-3"]


def test_create_is_idempotent_only_for_the_same_attributes(service: QueueService) -> None:
    first = make(service, "q", VisibilityTimeout="40")
    assert make(service, "q", VisibilityTimeout="40") == first
    assert make(service, "q") == first
    with pytest.raises(QueueNameExists):
        make(service, "q", VisibilityTimeout="41")


def test_purge_empties_once_a_minute(service: QueueService, clock: FakeClock) -> None:
    ref = make(service, "q")
    send(service, ref, "a")
    service.purge(ref)
    assert receive(service, ref) == []
    send(service, ref, "b")
    clock.advance(59)
    with pytest.raises(PurgeQueueInProgress):
        service.purge(ref)
    clock.advance(2)
    service.purge(ref)
    assert receive(service, ref) == []


def test_a_receipt_is_only_valid_on_its_own_queue(service: QueueService) -> None:
    one, two = make(service, "one"), make(service, "two")
    send(service, one, "m")
    (got,) = receive(service, one)
    with pytest.raises(ReceiptHandleIsInvalid):
        service.delete_message(two, got.receipt_handle)
    with pytest.raises(ReceiptHandleIsInvalid):
        service.delete_message(one, "not-a-handle")


def test_a_deleted_queue_takes_its_messages(service: QueueService, clock: FakeClock) -> None:
    ref = make(service, "q")
    send(service, ref, "m")
    service.delete_queue(ref)
    with pytest.raises(QueueDoesNotExist):
        receive(service, ref)
    clock.advance(60)  # the name rests 60 seconds (QueueDeletedRecently)
    ref = make(service, "q")
    assert receive(service, ref) == []


async def test_long_polling_returns_when_a_message_is_sent(service: QueueService) -> None:
    ref = make(service, "q")
    started = time.monotonic()
    waiting = asyncio.create_task(service.receive(ref, ReceiveRequest(wait_seconds=5)))
    for _ in range(400):
        if service.waiters.waiting(ref):
            break
        await asyncio.sleep(0.01)
    # Sent from another thread, as a request handler on the thread pool would.
    sender = threading.Thread(target=send, args=(service, ref, "wake"))
    sender.start()
    received = await asyncio.wait_for(waiting, 10)
    sender.join()
    assert bodies(received) == ["wake"]
    assert time.monotonic() - started < 4  # woken, not timed out after 5 s


async def test_long_polling_looks_again_for_what_no_send_announces(
    db: Database, clock: FakeClock
) -> None:
    # A delay running out (or another process's send) wakes nobody: the re-check finds it.
    service = QueueService(db, "us-east-1", clock=clock, recheck_interval_s=0.05)
    ref = make(service, "q")
    send(service, ref, "later", delay_seconds=10)
    waiting = asyncio.create_task(service.receive(ref, ReceiveRequest(wait_seconds=5)))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    clock.advance(10)
    received = await asyncio.wait_for(waiting, 2)
    assert bodies(received) == ["later"]


async def test_long_polling_gives_up_after_the_wait_time(service: QueueService) -> None:
    ref = make(service, "q", ReceiveMessageWaitTimeSeconds="1")
    started = time.monotonic()
    assert await service.receive(ref, ReceiveRequest()) == []  # the queue's wait time
    assert time.monotonic() - started >= 0.9


def test_concurrent_receivers_never_share_a_receive(service: QueueService) -> None:
    ref = make(service, "q", VisibilityTimeout="300")
    sent = service.send(ref, ACCOUNT, [OutgoingMessage(f"m{i}") for i in range(60)])
    assert all(isinstance(r, SendResult) for r in sent)

    def drain() -> list[str]:
        got: list[str] = []
        while batch := receive(service, ref, count=7):
            got += bodies(batch)
        return got

    with ThreadPoolExecutor(6) as pool:
        shares = list(pool.map(lambda _: drain(), range(6)))
    everything = [body for share in shares for body in share]
    assert sorted(everything) == sorted(f"m{i}" for i in range(60))  # each exactly once
