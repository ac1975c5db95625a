"""LogWriter: functions' log lines, buffered in memory and stored in batches.

An invocation hands its whole log (START, the function's lines, END, REPORT) to
`submit`, which only appends to a buffer: the invoke path never waits on the disk.
`run_once()` stores everything buffered in one transaction, so a burst of invocations
costs one fsync, not one each. Logs are not under "accepted means durable": a crash can
lose the last flush interval's lines, as CloudWatch's own agents can.

Before anything is buffered, FloodCaps (caps.py) holds each sandbox to its share of the
disk: a function printing without pause costs its own lines, never another's.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from lambdalite.logs.caps import FloodCaps
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
    ) -> None:
        self._store = store
        # The store carries the operator's caps (Settings.log_limits) unless a test says.
        self.caps = FloodCaps(limits or store.limits)
        self._max = max_buffered_events
        self._clock_ms = clock_ms
        # Per stream, in arrival order: a warm sandbox's invocations all land in one batch,
        # so a flush costs a few statements, not a few per invocation.
        self._buffer: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
        self._buffered_events = 0
        self.dropped_events = 0

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
        """Store what is buffered; returns how many events were written."""
        self.caps.forget_idle(self._clock_ms())
        buffered, self._buffer = self._buffer, {}
        count, self._buffered_events = self._buffered_events, 0
        if not buffered:
            return 0
        batches = [StreamBatch(*key, events) for key, events in buffered.items()]
        try:
            await run_in_threadpool(self._store.append, batches, self._clock_ms())
        except Exception:
            # Keep them, ahead of anything submitted meanwhile, for the next pass.
            for key, events in self._buffer.items():
                buffered.setdefault(key, []).extend(events)
            self._buffer = buffered
            self._buffered_events += count
            raise
        return count
