"""Accepted means durable: Event invokes that got a 202 all run, though the server that
accepted them is killed with SIGKILL right after, several times, and restarted.

A real `lambdalite serve` process on one data dir. Each accepted event's success record
goes to a queue (OnSuccess), so the test reads every delivery back through SQS.
Duplicates are allowed (an event can run again after a crash), losses are not.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import create
from tests.integration.test_serve import LAMBDALITE, wait_healthy
from tests.support.servers import ROOT_KEY, ROOT_SECRET, boto_client, free_port

pytestmark = pytest.mark.sandbox

ROUNDS = 3
EVENTS_PER_ROUND = 40
# A short lease: events the killed server had claimed come back within seconds.
LEASE_SECONDS = "2"


def start(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMBDALITE_")}
    env.update(
        LAMBDALITE_ROOT_ACCESS_KEY_ID=ROOT_KEY,
        LAMBDALITE_ROOT_SECRET_ACCESS_KEY=ROOT_SECRET,
        LAMBDALITE_ASYNC_LEASE_SECONDS=LEASE_SECONDS,
    )
    return subprocess.Popen(
        [LAMBDALITE, "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def kill_9(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def test_every_accepted_event_is_delivered_across_kill_9(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = start(data_dir, port)
    try:
        wait_healthy(port, process)
        lam, sqs = boto_client(endpoint), boto_client(endpoint, "sqs")
        create(lam, "durable")
        url = sqs.create_queue(QueueName="delivered")["QueueUrl"]
        account_id = url.rstrip("/").split("/")[-2]
        lam.put_function_event_invoke_config(
            FunctionName="durable",
            DestinationConfig={
                "OnSuccess": {"Destination": f"arn:aws:sqs:us-east-1:{account_id}:delivered"}
            },
        )

        accepted: list[str] = []
        for round_number in range(ROUNDS):
            if round_number:
                process = start(data_dir, port)
                wait_healthy(port, process)
                lam = boto_client(endpoint)
            accepted += accept_events(lam, round_number)
            kill_9(process)  # right after the last 202: no graceful anything

        process = start(data_dir, port)
        wait_healthy(port, process)
        delivered = drain(boto_client(endpoint, "sqs"), url, set(accepted))
        missing = set(accepted) - delivered
        assert not missing, f"{len(missing)} of {len(accepted)} accepted events were lost"
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def accept_events(lam: Any, round_number: int) -> list[str]:
    """Event invokes from several threads at once (so commits are shared), returning the
    request ids of those that were answered 202."""

    def one(n: int) -> str:
        response = lam.invoke(
            FunctionName="durable",
            InvocationType="Event",
            Payload=json.dumps({"round": round_number, "n": n}),
        )
        assert response["StatusCode"] == 202
        request_id: str = response["ResponseMetadata"]["RequestId"]
        return request_id

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(EVENTS_PER_ROUND)))


def drain(sqs: Any, url: str, expected: set[str]) -> set[str]:
    """Request ids of the success records, read until all expected ones are in (or a
    generous deadline that only a lost event reaches)."""
    delivered: set[str] = set()
    deadline = time.monotonic() + 120
    while not expected <= delivered and time.monotonic() < deadline:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in batch.get("Messages", []):
            record = json.loads(message["Body"])
            assert record["requestContext"]["condition"] == "Success"
            delivered.add(record["requestContext"]["requestId"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return delivered
