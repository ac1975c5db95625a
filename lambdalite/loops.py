"""BackgroundLoop: runs a service's `run_once()` every interval, supervised.

Every background loop of the platform (sandbox reaper now; async queue, pollers,
scheduler later) is a service with `run_once()` that tests call directly. In the server,
this runner calls it on a timer on the one event loop: no thread, no sleep in the service.
An exception is logged and the loop goes on; only `stop()` ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class BackgroundLoop:
    def __init__(self, name: str, run_once: Callable[[], Awaitable[object]], interval_s: float):
        self.name = name
        self._run_once = run_once
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background loop %s failed; it keeps running", self.name)
            await asyncio.sleep(self._interval_s)
