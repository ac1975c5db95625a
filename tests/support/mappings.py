"""The harness of the event source mapping tests: a server whose clock the tests move
(queues and pollers read it) and that never polls on its own (tests drive each round with
`run_once()` on its event loop), and the functions and helpers the SQS and Redis stream
mapping tests share (their fixtures: tests/compat/mappings/conftest.py)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from botocore.exceptions import ClientError

from lambdalite.server import Platform, build_platform
from lambdalite.settings import Settings
from lambdalite.store.logs import LogStore
from tests.conftest import create, make_zip
from tests.support.clock import ManualClock as Clock
from tests.support.servers import (
    ROOT_KEY,
    ROOT_SECRET,
    boto_client,
    free_port,
    serve_in_thread,
)


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
    server, thread = serve_in_thread(platform, "127.0.0.1", port)
    running = ClockedServer(platform, f"http://127.0.0.1:{port}", clock, server, thread)
    # Logs are flushed only when a test reads them: a background flush in progress would
    # hold lines a test's own flush then misses (LogWriter.run_once returns at once).
    running.run(platform.engine._log_flusher.stop())
    return running


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
