"""The delivery loop on a fake clock and a fake Invoker, against a real store (SQLite and
PostgreSQL): exact retry timing, request ids, records, dead-letter messages, leases."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lambdalite.asyncinvoke.commits import GroupCommit
from lambdalite.asyncinvoke.config_store import ConfigStore
from lambdalite.asyncinvoke.configs import EventInvokeConfigService
from lambdalite.asyncinvoke.delivery import DeliveryLoop
from lambdalite.asyncinvoke.destinations import Destinations
from lambdalite.asyncinvoke.event_store import EventStore
from lambdalite.asyncinvoke.model import AsyncEvent
from lambdalite.asyncinvoke.retry import RetryPolicy
from lambdalite.control.code import CodeStore
from lambdalite.control.functions import FunctionService
from lambdalite.errors import ApiError, ServiceException, TooManyRequestsException
from lambdalite.invoke.invoker import InvocationResult
from lambdalite.model import FunctionConfig
from lambdalite.queues import QueueRef, QueueService
from lambdalite.queues.model import ReceiveRequest
from lambdalite.sandbox.spec import InvocationOutcome
from lambdalite.settings import CodeLimits
from lambdalite.store.aliases import AliasStore
from lambdalite.store.database import Database
from lambdalite.store.functions import FunctionStore
from tests.conftest import make_zip
from tests.support.databases import BACKENDS, migrated_database

ACCOUNT = "111122223333"
REGION = "us-east-1"
START = 1_700_000_000.0
LEASE = 60.0


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


# What the fake Invoker does on one call: a function result, or an API error to raise.
Answer = tuple[bytes, str | None] | ApiError


class FakeRunner:
    """The Invoker's `invoke`, answering from a script; remembers every call."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str | None, bytes, str | None]] = []
        self.gate: asyncio.Event | None = None

    async def invoke(
        self,
        account_id: str,
        name: str,
        qualifier: str | None,
        payload: bytes,
        client_context: str | None = None,
        request_id: str | None = None,
        trigger: str = "api",
    ) -> InvocationResult:
        self.calls.append((name, qualifier, payload, request_id))
        if self.gate is not None:
            await self.gate.wait()
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, ApiError):
            raise answer
        body, error = answer
        rid = request_id or "generated"
        return InvocationResult(
            rid, body, error, "$LATEST", b"", InvocationOutcome(rid, body, error)
        )


OK: Answer = (b'{"ok": true}', None)
FAILED: Answer = (b'{"errorMessage": "boom", "errorType": "ValueError"}', "Unhandled")


@dataclass
class Rig:
    clock: FakeClock
    events: EventStore
    configs: EventInvokeConfigService
    queues: QueueService
    functions: FunctionService
    make_loop: Callable[[FakeRunner], DeliveryLoop]

    def accept(self, payload: bytes = b'{"n": 1}', qualifier: str | None = None) -> str:
        request_id = str(uuid.uuid4())
        now = self.clock.now
        self.events.add([AsyncEvent(request_id, ACCOUNT, "fn", qualifier, payload, now, now)])
        return request_id

    def queue(self, name: str) -> str:
        self.queues.create_queue(ACCOUNT, name, {}, {})
        return QueueRef(ACCOUNT, name).arn(REGION)

    def messages(self, arn: str) -> list[Any]:
        ref = QueueRef(ACCOUNT, arn.rsplit(":", 1)[1])
        return [m.message for m in self.queues.receive_now(ref, ReceiveRequest(max_messages=10))]


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    with migrated_database(request, tmp_path, ACCOUNT) as database:
        yield database


@pytest.fixture
def rig(db: Database, tmp_path: Path) -> Rig:
    clock = FakeClock()
    functions = FunctionService(
        FunctionStore(db), AliasStore(db), CodeStore(tmp_path / "code"), CodeLimits(), REGION
    )
    config = FunctionConfig(runtime="python3.11", handler="app.handler", role="r")
    for name in ("fn", "other"):
        functions.create(ACCOUNT, name, config, make_zip(), {}, publish=False)
    queues = QueueService(db, REGION, clock=clock)
    destinations = Destinations(queues, functions, REGION)
    configs = EventInvokeConfigService(ConfigStore(db), functions, destinations, clock)
    events = EventStore(db)

    def make_loop(runner: FakeRunner) -> DeliveryLoop:
        return DeliveryLoop(
            events,
            GroupCommit(db),
            configs,
            runner,
            functions,
            destinations,
            RetryPolicy(),
            lease_s=LEASE,
            max_in_flight=8,
            clock=clock,
        )

    return Rig(clock, events, configs, queues, functions, make_loop)


def run(loop: DeliveryLoop, at: float) -> int:
    return asyncio.run(loop.run_once(now=START + at))


def test_a_success_goes_to_on_success_with_awss_record(rig: Rig) -> None:
    queue = rig.queue("done")
    rig.configs.put(
        ACCOUNT, "fn", None, {"DestinationConfig": {"OnSuccess": {"Destination": queue}}}
    )
    request_id = rig.accept(b'{"orderId": "1001"}')
    runner = FakeRunner(OK)
    assert run(rig.make_loop(runner), 0) == 1
    (message,) = rig.messages(queue)
    assert json.loads(message.body) == {
        "version": "1.0",
        "timestamp": "2023-11-14T22:13:20.000Z",
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn:$LATEST",
            "condition": "Success",
            "approximateInvokeCount": 1,
        },
        "requestPayload": {"orderId": "1001"},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "responsePayload": {"ok": True},
    }
    assert runner.calls == [("fn", None, b'{"orderId": "1001"}', request_id)]
    assert rig.events.count() == 0


def test_function_errors_retry_after_one_then_two_minutes_with_one_request_id(rig: Rig) -> None:
    queue = rig.queue("failed")
    rig.configs.put(
        ACCOUNT, "fn", None, {"DestinationConfig": {"OnFailure": {"Destination": queue}}}
    )
    request_id = rig.accept()
    runner = FakeRunner(FAILED)
    loop = rig.make_loop(runner)
    assert run(loop, 0) == 1
    assert run(loop, 59.9) == 0, "the first retry waits a minute"
    assert run(loop, 60) == 1
    assert run(loop, 179.9) == 0, "the second waits two"
    assert rig.messages(queue) == []
    assert run(loop, 180) == 1
    assert [call[3] for call in runner.calls] == [request_id] * 3
    (message,) = rig.messages(queue)
    record = json.loads(message.body)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"] == {"errorMessage": "boom", "errorType": "ValueError"}
    assert run(loop, 10_000) == 0 and rig.events.count() == 0


def test_without_on_failure_the_dead_letter_queue_gets_the_event(rig: Rig) -> None:
    dlq = rig.queue("dlq")
    rig.functions.update_config(ACCOUNT, "fn", {"dead_letter_target_arn": dlq}, None)
    rig.configs.put(ACCOUNT, "fn", None, {"MaximumRetryAttempts": 0})
    request_id = rig.accept(b'{"n": 7}')
    assert run(rig.make_loop(FakeRunner(FAILED)), 0) == 1
    (message,) = rig.messages(dlq)
    assert message.body == '{"n": 7}'
    assert {k: (v.data_type, v.string_value) for k, v in message.attributes.items()} == {
        "RequestID": ("String", request_id),
        "ErrorCode": ("Number", "200"),
        "ErrorMessage": ("String", "boom"),
    }


def test_a_retry_that_would_outlive_the_maximum_age_is_event_age_exceeded(rig: Rig) -> None:
    queue = rig.queue("aged")
    rig.configs.put(
        ACCOUNT,
        "fn",
        None,
        {
            "MaximumEventAgeInSeconds": 60,
            "DestinationConfig": {"OnFailure": {"Destination": queue}},
        },
    )
    rig.accept()
    assert run(rig.make_loop(FakeRunner(FAILED)), 1) == 1
    (message,) = rig.messages(queue)
    record = json.loads(message.body)
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 1


def test_throttles_back_off_exponentially_until_the_event_is_too_old(rig: Rig) -> None:
    queue = rig.queue("throttled")
    rig.configs.put(
        ACCOUNT,
        "fn",
        None,
        {
            "MaximumEventAgeInSeconds": 60,
            "DestinationConfig": {"OnFailure": {"Destination": queue}},
        },
    )
    request_id = rig.accept()
    runner = FakeRunner(TooManyRequestsException("Rate Exceeded."))
    loop = rig.make_loop(runner)
    attempts = []
    for second in range(0, 61):
        if run(loop, second):
            attempts.append(second)
    # 1, 2, 4, 8, 16 seconds apart; the next (32 s) would pass the age: it waits for 60.
    assert attempts == [0, 1, 3, 7, 15, 31, 60]
    assert len(runner.calls) == 6, "the pass at 60 s finds it too old and does not run it"
    event = rig.events.get(request_id)
    assert event is None
    (message,) = rig.messages(queue)
    record = json.loads(message.body)
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["responseContext"]["statusCode"] == 429
    assert record["responsePayload"]["errorType"] == "TooManyRequestsException"


def test_platform_failures_are_retried_and_the_reason_kept(rig: Rig) -> None:
    request_id = rig.accept()
    runner = FakeRunner(ServiceException("no sandbox"), OK)
    loop = rig.make_loop(runner)
    assert run(loop, 0) == 1
    event = rig.events.get(request_id)
    assert event is not None and event.last_error == "ServiceException: no sandbox"
    assert run(loop, 1) == 1
    assert rig.events.count() == 0


def test_an_unwritable_record_stays_until_it_can_be_written(rig: Rig) -> None:
    queue = rig.queue("gone")
    rig.configs.put(
        ACCOUNT, "fn", None, {"DestinationConfig": {"OnSuccess": {"Destination": queue}}}
    )
    request_id = rig.accept()
    rig.queues.delete_queue(QueueRef(ACCOUNT, "gone"))
    runner = FakeRunner(OK)
    loop = rig.make_loop(runner)
    assert run(loop, 0) == 1
    event = rig.events.get(request_id)
    assert event is not None
    assert event.last_error is not None and "does not exist" in event.last_error
    assert run(loop, 0.5) == 0 and run(loop, 1) == 1, "retried after 1 s"
    rig.clock.now = START + 61  # SQS lets a deleted queue's name be used again after 60 s
    rig.queue("gone")
    assert run(loop, 61) == 1
    (message,) = rig.messages(queue)
    assert json.loads(message.body)["requestContext"]["requestId"] == request_id
    assert len(runner.calls) == 1, "the function ran once; only its record was retried"
    assert rig.events.count() == 0


def test_a_function_destination_receives_the_record_as_a_new_event(rig: Rig) -> None:
    other = "arn:aws:lambda:us-east-1:111122223333:function:other"
    rig.configs.put(
        ACCOUNT, "fn", None, {"DestinationConfig": {"OnSuccess": {"Destination": other}}}
    )
    request_id = rig.accept()
    runner = FakeRunner(OK)
    loop = rig.make_loop(runner)
    assert run(loop, 0) == 1
    assert run(loop, 0) == 1
    name, qualifier, payload, second_id = runner.calls[1]
    assert (name, qualifier) == ("other", None)
    assert second_id != request_id
    assert json.loads(payload)["requestContext"]["requestId"] == request_id


def test_an_event_claimed_by_a_crashed_server_runs_after_its_lease(rig: Rig) -> None:
    request_id = rig.accept()
    (claimed,) = rig.events.claim("crashed-server", START, 10, LEASE)
    assert claimed.request_id == request_id
    runner = FakeRunner(OK)
    loop = rig.make_loop(runner)
    assert run(loop, LEASE - 1) == 0, "still leased to the other server"
    assert run(loop, LEASE) == 1
    assert [call[3] for call in runner.calls] == [request_id]
    assert rig.events.count() == 0


def test_a_running_event_keeps_its_lease_and_stop_hands_it_back(rig: Rig) -> None:
    request_id = rig.accept()

    async def scenario() -> None:
        runner = FakeRunner(OK)
        runner.gate = asyncio.Event()
        loop = rig.make_loop(runner)
        assert await loop.run_once(now=START, wait=False) == 1
        await asyncio.sleep(0)  # let it reach the (blocked) invoke
        other = rig.make_loop(FakeRunner(OK))
        # Past the first lease: the running loop's pass renewed it, so no one else takes it.
        await loop.run_once(now=START + LEASE / 2 + 1, wait=False)
        assert await other.run_once(now=START + LEASE + 1) == 0
        await loop.stop()
        assert runner.calls and loop.in_flight == 0

    asyncio.run(scenario())
    event = rig.events.get(request_id)
    assert event is not None, "an interrupted event is kept"
    assert run(rig.make_loop(FakeRunner(OK)), 0) == 1, "and due at once after a clean stop"
    assert rig.events.count() == 0


def test_a_deleted_function_discards_its_events(rig: Rig) -> None:
    from lambdalite.errors import ResourceNotFoundException

    rig.accept()
    runner = FakeRunner(ResourceNotFoundException("Function not found"))
    assert run(rig.make_loop(runner), 0) == 1
    assert rig.events.count() == 0


def test_two_servers_sharing_the_store_run_each_event_once(rig: Rig) -> None:
    accepted = {rig.accept(f'{{"n": {n}}}'.encode()) for n in range(40)}
    first, second = FakeRunner(OK), FakeRunner(OK)

    async def both() -> None:
        one, two = rig.make_loop(first), rig.make_loop(second)
        while rig.events.count():
            await asyncio.gather(one.run_once(now=START), two.run_once(now=START))

    asyncio.run(both())
    ran = [call[3] for call in first.calls + second.calls]
    assert sorted(ran) == sorted(accepted), "every event ran, none twice"
    assert first.calls and second.calls, "both servers took a share"
