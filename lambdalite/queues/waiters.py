"""Long polling without a thread per waiter: receivers wait on an asyncio.Event per
queue, set by sends in this process.

Sends run on the thread pool (they write the database), waiters on the event loop: a
send wakes each waiter through its own loop's `call_soon_threadsafe`. A waiter also
wakes on a short interval to look again, which covers what no local send announces:
another process's sends, and delays or visibility timeouts running out.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from lambdalite.queues.model import QueueRef


class QueueWaiters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[QueueRef, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    @contextlib.contextmanager
    def watch(self, ref: QueueRef) -> Iterator[asyncio.Event]:
        """An event set by the next `notify(ref)`, for as long as the block runs."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting.setdefault(ref, set()).add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                waiting = self._waiting.get(ref)
                if waiting is not None:
                    waiting.discard(entry)
                    if not waiting:
                        del self._waiting[ref]

    def notify(self, ref: QueueRef) -> None:
        """Wake every receiver waiting on `ref`; callable from any thread."""
        with self._lock:
            entries = list(self._waiting.get(ref, ()))
        for loop, event in entries:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(event.set)

    def waiting(self, ref: QueueRef) -> int:
        with self._lock:
            return len(self._waiting.get(ref, ()))
