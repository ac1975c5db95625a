"""`lambdalite queues` and `lambdalite mappings` against a running server, checked
through boto3 the way a user would check them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import create
from tests.support.cli import Env, cli_env, one_line_error, run, succeeded
from tests.support.servers import RunningServer


@pytest.fixture
def env(server: RunningServer, tmp_path: Path) -> Env:
    return cli_env(server.endpoint, tmp_path)


@pytest.fixture
def sqs(server: RunningServer) -> Any:
    return server.client("sqs")


@pytest.fixture
def queue() -> str:
    return f"q-{uuid.uuid4().hex[:12]}"


def row(output: str, key: str) -> list[str]:
    """The cells of the one table row that names `key`."""
    (line,) = [line for line in output.splitlines() if key in line]
    return [cell.strip() for cell in line.strip("│ ").split("│")]


def counts(sqs: Any, url: str) -> tuple[int, int]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(found[names[0]]), int(found[names[1]])


def test_create_send_list_and_receive(env: Env, sqs: Any, queue: str) -> None:
    url = succeeded(run(env, "queues", "create", queue, "--attribute", "VisibilityTimeout=45"))
    assert url == sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
    assert found["Attributes"]["VisibilityTimeout"] == "45"

    first = succeeded(run(env, "queues", "send", queue, "hello world"))
    second = succeeded(run(env, "queues", "send", queue, "second"))
    listed = run(env, "queues", "ls")
    assert row(listed.stdout, queue) == [queue, "2", "0", "0", url]

    received = run(env, "queues", "receive", queue, "--max", "1")
    assert succeeded(received) == f"{first} hello world"
    assert counts(sqs, url) == (1, 1), "received, not deleted: in flight"
    deleted = run(env, "queues", "receive", queue, "--max", "10", "--delete")
    assert succeeded(deleted) == f"{second} second"
    assert counts(sqs, url) == (0, 1)

    empty = run(env, "queues", "receive", queue)
    assert (succeeded(empty), empty.stderr.strip()) == ("", f"no messages in {queue}")


def test_fifo_queues_take_a_group(env: Env, sqs: Any, queue: str) -> None:
    name = f"{queue}.fifo"
    run(env, "queues", "create", name, "--attribute", "ContentBasedDeduplication=true")
    succeeded(run(env, "queues", "send", name, "ordered", "--group", "g1"))
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    (message,) = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"])["Messages"]
    assert (message["Body"], message["Attributes"]["MessageGroupId"]) == ("ordered", "g1")
    assert one_line_error(run(env, "queues", "send", name, "no group")) == (
        "error: MissingParameter: The request must contain the parameter MessageGroupId."
    )


def test_queue_errors_are_one_clear_line(env: Env, queue: str) -> None:
    assert one_line_error(run(env, "queues", "send", queue, "x")) == (
        "error: AWS.SimpleQueueService.NonExistentQueue: The specified queue does not exist."
    )
    assert one_line_error(run(env, "queues", "create", "bad name!")) == (
        "error: InvalidParameterValue: Can only include alphanumeric characters, hyphens, or "
        "underscores. 1 to 80 in length"
    )
    assert one_line_error(run(env, "queues", "create", queue, "--attribute", "oops")) == (
        "error: --attribute expects KEY=VALUE, got 'oops'"
    )


def reconcile(server: RunningServer, lam: Any, mapping_id: str, until: str | None) -> None:
    """Reconcile now (the server would within a second) until the mapping is in state
    `until` (None: gone). A transition waits for a round the server's own poller is in
    the middle of, so it may take more than one pass."""
    pollers, loop = server.platform.pollers, server.platform.engine._loop
    assert pollers is not None and loop is not None
    for _ in range(100):
        asyncio.run_coroutine_threadsafe(pollers.reconcile(), loop).result(timeout=30)
        found = lam.list_event_source_mappings()["EventSourceMappings"]
        states = [m["State"] for m in found if m["UUID"] == mapping_id]
        if states == ([until] if until else []):
            return
    raise AssertionError(f"{mapping_id} did not reach {until}: {states}")


def test_mappings_create_list_and_remove(
    env: Env, server: RunningServer, sqs: Any, queue: str, name: str
) -> None:
    lam = server.client()
    function_arn = create(lam, name)["FunctionArn"]
    arn = sqs.get_queue_attributes(
        QueueUrl=sqs.create_queue(QueueName=queue)["QueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]

    created = succeeded(
        run(env, "mappings", "create", "--function", name, "--queue", queue, "--batch-size", "5")
    )
    mapping_id = created.split()[0]
    assert created == f"{mapping_id} Creating: {arn} -> {function_arn}, batches of up to 5"
    got = lam.get_event_source_mapping(UUID=mapping_id)
    assert (got["EventSourceArn"], got["BatchSize"]) == (arn, 5)

    reconcile(server, lam, mapping_id, "Enabled")
    listed = run(env, "mappings", "ls", "--function", name)
    assert row(listed.stdout, mapping_id) == [mapping_id, name, queue, "Enabled", "5", "0 s"]

    assert succeeded(run(env, "mappings", "rm", mapping_id)) == f"{mapping_id} Deleting"
    reconcile(server, lam, mapping_id, None)
    assert lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"] == []
    assert succeeded(run(env, "mappings", "ls", "--function", name)) == "no event source mappings"


def test_mapping_errors_are_one_clear_line(
    env: Env, server: RunningServer, queue: str, name: str
) -> None:
    create(server.client(), name)
    missing = run(env, "mappings", "create", "--function", name, "--queue", queue)
    assert one_line_error(missing) == (
        "error: AWS.SimpleQueueService.NonExistentQueue: The specified queue does not exist."
    )
    unknown = run(env, "mappings", "rm", "00000000-0000-0000-0000-000000000000")
    assert one_line_error(unknown) == (
        "error: ResourceNotFoundException: The resource you requested does not exist."
    )
