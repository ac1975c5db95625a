"""Log lines for tests of the Logs API and `lambdalite logs`: stored the way the server
stores them (the LogWriter) or, where a test needs past timestamps, straight to the store."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from lambdalite.logs.lines import end_line, report_line, start_line
from lambdalite.store.logs import LogStore, StreamBatch
from tests.support.servers import RunningServer

STREAM = "2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef"


def invocation_log(request_id: str, *printed: str) -> bytes:
    """One invocation's log as the Invoker hands it to the LogWriter."""
    report = report_line(request_id, 2.5, 128, 40, None)
    lines = [start_line(request_id, "$LATEST"), *(f"{p}\n" for p in printed)]
    return "".join([*lines, end_line(request_id), report]).encode()


def flush(server: RunningServer) -> int:
    """Store what the server's LogWriter holds now, on the server's own event loop."""
    engine = server.platform.engine
    assert engine._loop is not None, "the server is running"
    stored: int = asyncio.run_coroutine_threadsafe(engine.logs.run_once(), engine._loop).result(10)
    return stored


def submit(server: RunningServer, account: str, group: str, stream: str, log: bytes) -> None:
    """Hand a log to the server's LogWriter, as an invocation does, and store it."""
    engine = server.platform.engine
    assert engine._loop is not None
    engine._loop.call_soon_threadsafe(engine.logs.submit, account, group, stream, log)
    flush(server)


def put_events(
    server: RunningServer,
    account: str,
    group: str,
    stream: str,
    events: Sequence[tuple[int, str]],
) -> None:
    """Events with chosen timestamps (ms), in the store the Logs API reads."""
    ingested = max(timestamp for timestamp, _ in events)
    LogStore(server.platform.db).append([StreamBatch(account, group, stream, events)], ingested)
