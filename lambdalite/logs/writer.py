"""LogWriter: functions' log lines, buffered in memory and stored in batches.

An invocation hands its whole log (START, the function's lines, END, REPORT) to
`submit`, which only appends to a buffer: the invoke path never waits on the disk.
`run_once()` stores everything buffered in one transaction, so a burst of invocations
costs one fsync, not one each. Logs are not under "accepted means durable": a crash can
lose the last flush interval's lines, as CloudWatch's own agents can.

Before anything is buffered, FloodCaps (caps.py) holds each sandbox to its share of the
disk: a function printing without pause costs its own lines, never another's.

Each invocation's usage record (metering/ledger.py) is stored in the same transaction as
its log lines: `usage` collects them from the Invoker, and `run_once` hands them over.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from lambdalite.logs.caps import FloodCaps
from lambdalite.logs.sink import LogSink
from lambdalite.metering.ledger import UsageLedger
from lambdalite.metering.record import UsageEntry
from lambdalite.metering.usage_store import UsageStore
from lambdalite.settings import LogLimits
from lambdalite.store.logs import LogStore, StreamBatch

log = logging.getLogger(__name__)
# One event per line, the newline kept (CloudWatch keeps it); only "\n" ends a line, so a
# traceback indented with U+00A0 or holding "\r" stays inside its event.
_LINE = re.compile(r"[^\n]*\n|[^\n]+$")


class LogWriter:
    def __init__(
        self,
        store: LogStore,
        max_buffered_events: int = 200_000,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        limits: LogLimits | None = None,
        usage: UsageLedger | None = None,
        sink: LogSink | None = None,
    ) -> None:
        self._store = store
        # Where batches are written: a process of its own (sink.py), else this process's
        # worker thread.
        self._sink = sink
        # The Invoker adds usage records here; the composition root may swap in a ledger
        # with the operator's price book and the metrics as observers before serving.
        self.usage = usage or UsageLedger()
        # The store carries the operator's caps (Settings.log_limits) unless a test says.
        self.caps = FloodCaps(limits or store.limits)
        self._max = max_buffered_events
        self._clock_ms = clock_ms
        # Per stream, in arrival order: a warm sandbox's invocations all land in one batch,
        # so a flush costs a few statements, not a few per invocation.
        self._buffer: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
        self._buffered_events = 0
        self.dropped_events = 0
        self._flushing = asyncio.Lock()

    def submit(self, account_id: str, log_group: str, log_stream: str, text: bytes) -> None:
        now = self._clock_ms()
        lines = _LINE.findall(text.decode("utf-8", errors="replace"))
        if not lines:
            return
        key = (account_id, log_group, log_stream)
        lines = self.caps.admit(key, lines, len(text), now)
        if self._buffered_events + len(lines) > self._max:
            # The store is not keeping up: shed rather than grow without bound, and count it.
            self.dropped_events += len(lines)
            return
        events = self._buffer.setdefault(key, [])
        events.extend((now, line) for line in lines)
        self._buffered_events += len(lines)

    async def run_once(self) -> int:
        """Store what is buffered, with the usage records waiting; returns how many log
        events were written. Flushes take turns: a caller (a test, the usage endpoint, the
        final flush at stop) that comes while the background flush is writing waits for
        it, so what was submitted before the call is stored when it returns, and batches
        commit in the order they were taken."""
        async with self._flushing:
            return await self._flush()

    async def _flush(self) -> int:
        self.caps.forget_idle(self._clock_ms())
        buffered, self._buffer = self._buffer, {}
        count, self._buffered_events = self._buffered_events, 0
        entries = self.usage.take()
        if not buffered and not entries and not self.usage.unstored_count:
            return 0
        batches = [StreamBatch(*key, events) for key, events in buffered.items()]
        try:
            await run_in_threadpool(self._write, batches, entries, self._clock_ms())
        except Exception:
            # Keep them, ahead of anything submitted meanwhile, for the next pass.
            for key, events in self._buffer.items():
                buffered.setdefault(key, []).extend(events)
            self._buffer = buffered
            self._buffered_events += count
            raise
        return count

    def _write(self, batches: list[StreamBatch], entries: list[UsageEntry], now: int) -> None:
        """On a worker thread: price the usage records (and count them in the metrics,
        once), then store them and the log events in one transaction — with a sink, all
        of that happens in its process. Records whose transaction fails go back to the
        ledger for the next pass."""
        usage = self.usage
        if self._sink is not None:
            # The sink prices the records and counts them for the metrics: here they
            # cost a tuple of plain values each (decision 0007, "fourth round").
            compacts = usage.compact_for_sink(entries)
            try:
                tallies, unpriced = self._sink.append(batches, now, compacts)
            except Exception:
                usage.unstored_compact(compacts)
                raise
            # Stored: whatever happens now must not fail the flush (it would be retried,
            # and its lines stored twice).
            try:
                usage.tallied(tallies)
            except Exception:  # a bug of ours in the metrics
                log.exception("could not count %d functions' usage in the metrics", len(tallies))
            if unpriced:
                usage.count_shed(unpriced)
            return
        records = usage.settle(entries)
        if not records:
            self._store.append(batches, now)
            return
        try:
            self._store.append(batches, now, also=lambda conn: UsageStore.insert_in(conn, records))
        except Exception:
            usage.unstored(records)
            raise

    def close(self) -> None:
        """Stop the sink process, if any (after the last run_once)."""
        if self._sink is not None:
            self._sink.close()
