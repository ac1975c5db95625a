"""The log sink: log lines and usage records stored by a process of its own, in one
transaction; a sink that failed or died loses nothing, and stopping leaves no process."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from lambdalite.logs.sink import PART_ITEMS, LogSink
from lambdalite.logs.writer import LogWriter
from lambdalite.metering.ledger import UsageLedger
from lambdalite.metering.usage_store import UsageStore
from lambdalite.metrics.invocation_metrics import Tallies
from lambdalite.sandbox.spec import InvocationOutcome
from lambdalite.store.database import Database
from lambdalite.store.logs import LogStore
from tests.unit.test_usage_ledger import entry

ACCOUNT = "123456789012"


def migrated(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    db.migrate()
    return db


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return migrated(tmp_path / "lambdalite.db")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def command_line(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def sink_pid(sink: LogSink) -> int:
    assert sink._process is not None
    return sink._process.pid


async def test_lines_and_usage_records_are_stored_by_the_sink_process(db: Database) -> None:
    sink = LogSink(db.url)
    writer = LogWriter(LogStore(db), sink=sink)
    try:
        # More events and records than one part holds: they arrive in several parts.
        lines = "".join(f"line {i}\n" for i in range(PART_ITEMS * 2 + 5)).encode()
        writer.submit(ACCOUNT, "/aws/lambda/fn", "stream-a", lines)
        writer.submit(ACCOUNT, "/aws/lambda/fn", "stream-b", b"other\n")
        for i in range(PART_ITEMS + 3):
            writer.usage.add(
                entry(InvocationOutcome(f"rid-{i}", b"{}", duration_ms=1.5), f"rid-{i}")
            )
        assert await writer.run_once() == PART_ITEMS * 2 + 6
        assert sink_pid(sink) != os.getpid()
        # A PostgreSQL URL may hold a password: never on the sink's command line.
        assert db.url.encode() not in command_line(sink_pid(sink))
        store = LogStore(db)
        events = store.events(ACCOUNT, "/aws/lambda/fn", "stream-a")
        assert [e.message for e in events][:2] == ["line 0\n", "line 1\n"]
        assert len(events) == PART_ITEMS * 2 + 5
        assert [e.message for e in store.events(ACCOUNT, "/aws/lambda/fn", "stream-b")] == [
            "other\n"
        ]
        usage = UsageStore(db)
        assert [r.duration_ms for r in usage.by_request("rid-0")] == [1.5]
        assert usage.by_request(f"rid-{PART_ITEMS + 2}")
    finally:
        writer.close()


async def test_a_batch_the_sink_cannot_store_is_kept_for_the_next_flush(tmp_path: Path) -> None:
    # The sink writes to a database without tables until it is migrated: its error comes
    # back to the writer, which keeps the batch.
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    sink = LogSink(empty.url)
    writer = LogWriter(LogStore(empty), sink=sink)
    try:
        writer.submit(ACCOUNT, "/aws/lambda/fn", "s", b"kept\n")
        writer.usage.add(entry(InvocationOutcome("rid-kept", b"{}", duration_ms=2.0), "rid-kept"))
        with pytest.raises(Exception, match=r"no such table"):
            await writer.run_once()
        empty.migrate()
        assert await writer.run_once() == 1
        assert [e.message for e in LogStore(empty).events(ACCOUNT, "/aws/lambda/fn", "s")] == [
            "kept\n"
        ]
        assert [r.duration_ms for r in UsageStore(empty).by_request("rid-kept")] == [2.0]
    finally:
        writer.close()


async def test_a_sink_that_died_is_started_again_and_nothing_is_lost(db: Database) -> None:
    sink = LogSink(db.url)
    writer = LogWriter(LogStore(db), sink=sink)
    try:
        writer.submit(ACCOUNT, "g", "s", b"first\n")
        await writer.run_once()
        first = sink_pid(sink)
        os.kill(first, signal.SIGKILL)
        assert sink._process is not None
        sink._process.wait()  # dead before the next flush (mid-flush: the next test)
        writer.submit(ACCOUNT, "g", "s", b"second\n")
        assert await writer.run_once() == 1
        assert sink.starts == 2 and sink_pid(sink) != first
        assert [e.message for e in LogStore(db).events(ACCOUNT, "g", "s")] == [
            "first\n",
            "second\n",
        ]
    finally:
        writer.close()


async def test_a_sink_that_dies_mid_flush_fails_it_and_the_next_flush_stores_it(
    db: Database,
) -> None:
    sink = LogSink(db.url)
    writer = LogWriter(LogStore(db), sink=sink)
    try:
        writer.submit(ACCOUNT, "g", "s", b"first\n")
        await writer.run_once()
        # The sink dies with the batch's parts on their way to it.
        original = sink._connected

        def connected_then_killed() -> object:
            sock = original()
            os.kill(sink_pid(sink), signal.SIGKILL)
            assert sink._process is not None
            sink._process.wait()
            return sock

        sink._connected = connected_then_killed  # type: ignore[method-assign,assignment]
        writer.submit(ACCOUNT, "g", "s", b"second\n")
        with pytest.raises(Exception, match="log sink went away"):
            await writer.run_once()
        sink._connected = original  # type: ignore[method-assign]
        assert await writer.run_once() == 1
        assert [e.message for e in LogStore(db).events(ACCOUNT, "g", "s")] == [
            "first\n",
            "second\n",
        ]
    finally:
        writer.close()


async def test_the_sink_prices_the_records_and_counts_them_for_the_metrics_once(
    tmp_path: Path,
) -> None:
    # Unmigrated at first: the first flush fails, and nothing may be counted until the
    # records are stored.
    db = Database(f"sqlite:///{tmp_path / 'metrics.db'}")
    seen: list[Tallies] = []
    sink = LogSink(db.url, "aws")
    writer = LogWriter(LogStore(db), sink=sink, usage=UsageLedger(tally_observers=[seen.append]))
    try:
        for i in range(3):
            outcome = InvocationOutcome(f"rid-{i}", b"{}", duration_ms=1.5)
            writer.usage.add(entry(outcome, f"rid-{i}"))
        writer.usage.add(entry(None, "throttled"))
        with pytest.raises(Exception, match=r"no such table"):
            await writer.run_once()
        assert seen == []
        db.migrate()
        await writer.run_once()
        assert len(seen) == 1
        (key, counted), *others = seen[0].items()
        assert key == ("123456789012", "fn") and not others
        assert counted.invocations == {"api": 3} and counted.throttles == 1
        assert counted.durations == [0.0015] * 3
        stored = UsageStore(db).by_request("rid-0")[0]
        # Priced by the sink with the aws book: the same as the server's ledger prices it.
        assert (
            stored.cost
            == UsageLedger()
            .record(entry(InvocationOutcome("rid-0", b"{}", duration_ms=1.5), "rid-0"))
            .cost
        )
        await writer.run_once()
        assert len(seen) == 1  # nothing new, nothing counted twice
    finally:
        writer.close()


async def test_closing_the_writer_ends_the_sink_process(db: Database) -> None:
    sink = LogSink(db.url)
    writer = LogWriter(LogStore(db), sink=sink)
    writer.submit(ACCOUNT, "g", "s", b"line\n")
    await writer.run_once()
    pid = sink_pid(sink)
    writer.close()
    assert not alive(pid)


def test_only_the_sink_commits_without_fsync(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sync.db'}"
    # 2 = FULL (the server: "accepted means durable"), 1 = NORMAL (the log sink's).
    for fsync, level in ((True, 2), (False, 1)):
        db = Database(url, fsync_commits=fsync)
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == level
        db.dispose()


async def test_the_sink_runs_the_servers_code_not_a_lambdalite_in_the_working_directory(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `python -m` would put the working directory first on sys.path: a checkout (or
    # anything named lambdalite) where the operator started the server would be the sink.
    decoy = tmp_path / "elsewhere" / "lambdalite"
    (decoy / "logs").mkdir(parents=True)
    marker = tmp_path / "decoy-ran"
    (decoy / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (decoy / "logs" / "__init__.py").write_text("")
    (decoy / "logs" / "sink.py").write_text("raise SystemExit(1)\n")
    monkeypatch.chdir(decoy.parent)
    writer = LogWriter(LogStore(db), sink=LogSink(db.url))
    try:
        writer.submit(ACCOUNT, "/aws/lambda/fn", "stream-a", b"kept\n")
        assert await writer.run_once() == 1
    finally:
        writer.close()
    assert not marker.exists()
    assert [e.message for e in LogStore(db).events(ACCOUNT, "/aws/lambda/fn", "stream-a")] == [
        "kept\n"
    ]
