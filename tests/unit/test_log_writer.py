"""LogWriter: lines become events, batches are stored together, overload is shed and counted."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from lambdalite.logs.writer import LogWriter
from lambdalite.store.database import Database
from lambdalite.store.logs import LogStore, StreamBatch


@pytest.fixture
def store(tmp_path: Path) -> LogStore:
    db = Database(f"sqlite:///{tmp_path / 'logs.db'}")
    db.migrate()
    return LogStore(db)


async def test_each_line_is_one_event_with_its_newline(store: LogStore) -> None:
    writer = LogWriter(store, clock_ms=lambda: 1_700_000_000_000)
    writer.submit("111111111111", "/aws/lambda/f", "s1", b"one\ntwo\xc2\xa0still two\r\nthree")
    assert await writer.run_once() == 3
    events = store.events("111111111111", "/aws/lambda/f", "s1")
    assert [e.message for e in events] == ["one\n", "two\u00a0still two\r\n", "three"]
    assert {e.timestamp for e in events} == {1_700_000_000_000}
    assert await writer.run_once() == 0


async def test_many_invocations_land_in_one_flush_one_batch_per_stream(store: LogStore) -> None:
    calls: list[int] = []
    append = store.append

    def counting(batches: Sequence[StreamBatch], now: int) -> None:
        calls.append(len(batches))
        append(batches, now)

    store.append = counting  # type: ignore[method-assign]
    writer = LogWriter(store)
    for i in range(50):
        writer.submit("111111111111", "/aws/lambda/f", f"s{i % 3}", f"line {i}\n".encode())
    assert await writer.run_once() == 50
    assert calls == [3], "one flush, one batch per stream"
    assert store.streams("111111111111", "/aws/lambda/f") == ["s0", "s1", "s2"]


async def test_overload_is_shed_and_counted_not_buffered_forever(store: LogStore) -> None:
    writer = LogWriter(store, max_buffered_events=5)
    writer.submit("111111111111", "g", "s", b"a\nb\nc\n")
    writer.submit("111111111111", "g", "s", b"d\ne\nf\n")
    assert writer.dropped_events == 3
    assert await writer.run_once() == 3


async def test_a_failed_flush_keeps_the_events_for_the_next(store: LogStore) -> None:
    writer = LogWriter(store)
    writer.submit("111111111111", "g", "s", b"kept\n")
    real = store.append

    def broken(batches: Sequence[StreamBatch], now: int) -> None:
        raise OSError("disk full")

    store.append = broken  # type: ignore[method-assign]
    with pytest.raises(OSError):
        await writer.run_once()
    store.append = real  # type: ignore[method-assign]
    assert await writer.run_once() == 1
    assert [e.message for e in store.events("111111111111", "g", "s")] == ["kept\n"]
