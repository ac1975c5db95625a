"""RedisStreamPoller against a real redis-server, with a fake function: batches in stream
order, checkpoints only after success, retries, bisection, partial batch responses, record
age, failure records, and restarts that neither skip nor reorder.

Rounds are driven with `run_once()` and a clock the tests move; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from lambdalite.errors import TooManyRequestsException
from lambdalite.mappings.model import EventSourceMapping, MappingState, SourceKind
from lambdalite.streams.location import StreamLocation
from lambdalite.streams.poller import RedisStreamPoller, StreamLimits
from lambdalite.streams.reader import group_name
from tests.support.clock import ManualClock as Clock
from tests.support.redis import RedisServer, start_redis

ACCOUNT = "123456789012"
ARN = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/clicks"


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    running = start_redis()
    if running is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    yield running
    running.stop()


@pytest.fixture
def key() -> str:
    return f"clicks-{uuid.uuid4().hex[:8]}"


@dataclass
class Result:
    request_id: str
    payload: bytes
    function_error: str | None
    executed_version: str = "$LATEST"


@dataclass
class Function:
    """Records every batch it is handed (as the entries' data) and answers with `answer`."""

    answer: Callable[[list[str]], Result | Exception] = lambda batch: Result("r", b"null", None)
    batches: list[list[str]] = field(default_factory=list)

    async def invoke(self, account: str, name: str, qualifier: str | None, payload: bytes) -> Any:
        records = json.loads(payload)["Records"]
        batch = [base64.b64decode(r["kinesis"]["data"]).decode() for r in records]
        self.batches.append(batch)
        answer = self.answer(batch)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def failing_on(bad: str) -> Callable[[list[str]], Result]:
    return lambda batch: Result("r", b"", "Unhandled" if bad in batch else None)


@dataclass
class Harness:
    server: RedisServer
    key: str
    clock: Clock
    function: Function
    failures: list[tuple[str, dict[str, Any]]]
    mapping_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def add(self, *items: str) -> list[str]:
        client = self.server.client()
        return [client.xadd(self.key, {"data": item}).decode() for item in items]

    def mapping(self, **settings: Any) -> EventSourceMapping:
        batch_size = settings.pop("BatchSize", 3)
        window = settings.pop("Window", 0)
        types = tuple(settings.pop("FunctionResponseTypes", ()))
        patterns = tuple(settings.pop("Filters", ()))
        return EventSourceMapping(
            uuid=self.mapping_id,
            account_id=ACCOUNT,
            function_name="consumer",
            qualifier=None,
            source_kind=SourceKind.REDIS_STREAM,
            source_arn=ARN,
            enabled=True,
            state=MappingState.ENABLED,
            state_reason="",
            last_modified=0.0,
            batch_size=batch_size,
            batching_window_s=window,
            function_response_types=types,
            filter_patterns=patterns,
            source_settings={"StartingPosition": "TRIM_HORIZON", **settings},
        )

    def poller(self, mapping: EventSourceMapping, owner: str = "server-1") -> RedisStreamPoller:
        async def write_failure(account: str, destination: str, record: str) -> None:
            self.failures.append((destination, json.loads(record)))

        return RedisStreamPoller(
            mapping,
            StreamLocation(self.server.url, self.key),
            self.function.invoke,
            write_failure,
            lambda _m: "arn:aws:iam::123456789012:role/reader",
            owner,
            "us-east-1",
            self.clock,
            StreamLimits(lease_seconds=30),
        )

    def rounds(self, poller: RedisStreamPoller, count: int = 1, advance: float = 0) -> None:
        for _ in range(count):
            asyncio.run(_round(poller))
            self.clock.now += advance

    def pending(self) -> int:
        info: Any = self.server.client().xpending(self.key, group_name(self.mapping_id))
        return int(info["pending"])

    def seen(self) -> list[str]:
        return [item for batch in self.function.batches for item in batch]


async def _round(poller: RedisStreamPoller) -> None:
    await poller.run_once()
    # The poller's Redis connections belong to this event loop: each round has its own.
    await poller._reader._client.aclose()


@pytest.fixture
def harness(server: RedisServer, key: str) -> Harness:
    return Harness(server, key, Clock(1_800_000_000.0), Function(), [])


def test_batches_go_in_stream_order_and_are_checkpointed_after_success(harness: Harness) -> None:
    harness.add(*[f"e{i}" for i in range(7)])
    poller = harness.poller(harness.mapping(BatchSize=3))
    harness.rounds(poller, 4)
    assert harness.function.batches == [["e0", "e1", "e2"], ["e3", "e4", "e5"], ["e6"]]
    assert harness.pending() == 0


def test_a_failing_batch_is_retried_then_discarded_to_on_failure(harness: Harness) -> None:
    ids = harness.add("ok1", "bad", "ok2", "ok3")
    harness.function.answer = failing_on("bad")
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:failures"
    mapping = harness.mapping(
        BatchSize=2, MaximumRetryAttempts=2, DestinationConfig={"OnFailure": {"Destination": queue}}
    )
    poller = harness.poller(mapping)
    harness.rounds(poller, 1)
    assert harness.function.batches == [["ok1", "bad"]]
    harness.rounds(poller, 1)  # the retry waits (1 s, then 2 s): nothing yet
    assert len(harness.function.batches) == 1
    harness.rounds(poller, 4, advance=5)
    assert harness.function.batches == [["ok1", "bad"]] * 3 + [["ok2", "ok3"]]
    ((destination, record),) = harness.failures
    assert destination == queue
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responseContext"]["functionError"] == "Unhandled"
    info = record["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (ids[0], ids[1])
    assert info["batchSize"] == 2
    assert info["shardId"] == "shardId-000000000000"
    assert info["streamArn"] == ARN
    assert list(record) == [
        "requestContext",
        "responseContext",
        "version",
        "timestamp",
        "KinesisBatchInfo",
    ]
    assert harness.pending() == 0


def test_bisecting_isolates_the_bad_record(harness: Harness) -> None:
    harness.add("a", "b", "bad", "d")
    harness.function.answer = failing_on("bad")
    poller = harness.poller(
        harness.mapping(BatchSize=4, BisectBatchOnFunctionError=True, MaximumRetryAttempts=0)
    )
    harness.rounds(poller, 8, advance=5)
    assert harness.function.batches == [
        ["a", "b", "bad", "d"],
        ["a", "b"],
        ["bad", "d"],
        ["bad"],
        ["d"],
    ]
    assert [f[1]["KinesisBatchInfo"]["batchSize"] for f in harness.failures] == []  # no OnFailure
    assert harness.pending() == 0


def test_reported_item_failures_checkpoint_up_to_the_first_failed_record(harness: Harness) -> None:
    ids = harness.add("r0", "r1", "r2", "r3", "r4")
    calls = {"n": 0}

    def answer(batch: list[str]) -> Result:
        calls["n"] += 1
        failed = [{"itemIdentifier": ids[3]}, {"itemIdentifier": ids[2]}] if calls["n"] == 1 else []
        return Result("r", json.dumps({"batchItemFailures": failed}).encode(), None)

    harness.function.answer = answer
    poller = harness.poller(
        harness.mapping(BatchSize=5, FunctionResponseTypes=["ReportBatchItemFailures"])
    )
    harness.rounds(poller, 3, advance=5)
    assert harness.function.batches == [["r0", "r1", "r2", "r3", "r4"], ["r2", "r3", "r4"]]
    assert harness.pending() == 0


def test_records_older_than_the_maximum_age_are_discarded_unrun(harness: Harness) -> None:
    now = harness.clock.now
    client = harness.server.client()
    for i, item in enumerate(("old1", "old2")):  # arrived two minutes ago
        client.xadd(harness.key, {"data": item}, id=f"{int((now - 120) * 1000)}-{i}")
    client.xadd(harness.key, {"data": "fresh"}, id=f"{int((now - 1) * 1000)}-0")
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:failures"
    mapping = harness.mapping(
        BatchSize=10,
        MaximumRecordAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": queue}},
    )
    poller = harness.poller(mapping)
    harness.rounds(poller, 3)
    assert harness.function.batches == [["fresh"]]
    ((_, record),) = harness.failures
    assert record["requestContext"]["condition"] == "MaximumRecordAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in record
    assert record["KinesisBatchInfo"]["batchSize"] == 2


def test_a_crash_mid_batch_neither_skips_nor_reorders(harness: Harness) -> None:
    harness.add(*[f"e{i}" for i in range(5)])
    mapping = harness.mapping(BatchSize=2)
    first = harness.poller(mapping)
    harness.rounds(first, 1)
    harness.function.answer = lambda batch: RuntimeError("the server died mid-invoke")
    with pytest.raises(RuntimeError):
        harness.rounds(first, 1)  # e2, e3 read and handed over; never acknowledged
    assert harness.pending() == 2
    # The same server started again (its own lease): the pending batch comes first.
    harness.function.answer = lambda batch: Result("r", b"", None)
    restarted = harness.poller(mapping)
    harness.rounds(restarted, 3)
    assert harness.function.batches == [["e0", "e1"], ["e2", "e3"], ["e2", "e3"], ["e4"]]
    assert harness.pending() == 0


def test_another_server_waits_for_the_lease(harness: Harness) -> None:
    harness.add("a", "b")
    mapping = harness.mapping(BatchSize=1)
    holder = harness.poller(mapping, owner="server-1")
    harness.rounds(holder, 1)
    other = harness.poller(mapping, owner="server-2")
    harness.rounds(other, 2)
    assert harness.function.batches == [["a"]], "one reader at a time"
    harness.server.client().delete(f"lambdalite:esm:{harness.mapping_id}:lease")  # expired
    harness.rounds(other, 1)
    assert harness.function.batches == [["a"], ["b"]]


def test_the_batching_window_waits_for_a_fuller_batch(harness: Harness) -> None:
    harness.add("a", "b")
    poller = harness.poller(harness.mapping(BatchSize=10, Window=5))
    harness.rounds(poller, 1)
    assert harness.function.batches == []
    harness.add("c")
    harness.clock.now += 5
    harness.rounds(poller, 1)
    assert harness.function.batches == [["a", "b", "c"]]


def test_throttles_are_retried_without_counting_an_attempt(harness: Harness) -> None:
    harness.add("a")
    harness.function.answer = lambda batch: TooManyRequestsException("Rate Exceeded.")
    poller = harness.poller(harness.mapping(BatchSize=1, MaximumRetryAttempts=0))
    harness.rounds(poller, 3, advance=2)
    assert harness.failures == []
    harness.function.answer = lambda batch: Result("r", b"", None)
    harness.rounds(poller, 1)
    assert harness.pending() == 0
    assert len(harness.function.batches) == 4


def test_an_unwritable_failure_record_holds_the_stream(harness: Harness) -> None:
    harness.add("bad", "next")
    harness.function.answer = failing_on("bad")
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:gone"
    poller = harness.poller(
        harness.mapping(
            BatchSize=1,
            MaximumRetryAttempts=0,
            DestinationConfig={"OnFailure": {"Destination": queue}},
        )
    )
    writes = {"n": 0}

    async def refuse(account: str, destination: str, record: str) -> None:
        writes["n"] += 1
        if writes["n"] == 1:
            raise RuntimeError("queue deleted")
        harness.failures.append((destination, json.loads(record)))

    poller._write_failure = refuse
    harness.rounds(poller, 1)
    assert harness.pending() == 1 and harness.failures == []
    harness.clock.now += 60
    harness.rounds(poller, 2)
    assert len(harness.failures) == 1
    assert harness.function.batches == [["bad"], ["next"]], "the bad record ran once"


def test_filters_skip_records_without_running_the_function(harness: Harness) -> None:
    harness.add(json.dumps({"type": "click"}), json.dumps({"type": "view"}), "not json")
    pattern = json.dumps({"data": {"type": ["click"]}})
    poller = harness.poller(harness.mapping(BatchSize=1, Filters=[pattern]))
    harness.rounds(poller, 4)
    assert harness.function.batches == [[json.dumps({"type": "click"})]]
    assert harness.pending() == 0


def test_latest_and_at_timestamp_start_where_asked(harness: Harness) -> None:
    client = harness.server.client()
    for second in (1, 2, 3):
        client.xadd(harness.key, {"data": f"t{second}"}, id=f"{second * 1000}-0")
    # LATEST, fixed at creation when the newest entry was t2's.
    latest = harness.poller(harness.mapping(StartingPosition="LATEST", StartAfter="2000-0"))
    harness.rounds(latest, 1)
    assert harness.function.batches == [["t3"]]

    harness.mapping_id = str(uuid.uuid4())  # a second mapping: a group of its own
    harness.function.batches.clear()
    at = harness.poller(
        harness.mapping(StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=2.0)
    )
    harness.rounds(at, 1)
    assert harness.function.batches == [["t2", "t3"]]

    harness.mapping_id = str(uuid.uuid4())
    harness.function.batches.clear()
    harness.rounds(harness.poller(harness.mapping(StartingPosition="TRIM_HORIZON")), 1)
    assert harness.function.batches == [["t1", "t2", "t3"]]


def test_no_redis_is_a_pause_not_a_crash(harness: Harness) -> None:
    mapping = harness.mapping()
    poller = RedisStreamPoller(
        mapping,
        StreamLocation("redis://127.0.0.1:1/0", harness.key),
        harness.function.invoke,
        lambda *_: asyncio.sleep(0),
        lambda _m: "",
        "server-1",
        "us-east-1",
        harness.clock,
    )
    harness.rounds(poller, 1)
    assert harness.function.batches == []
    assert poller._resume_at > harness.clock.now, "it pauses, then tries again"
