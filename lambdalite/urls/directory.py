"""UrlDirectory: url-id -> configuration, for the serving path, cached for a second.

Every request to a function URL needs its configuration; reading the store for each one
would cost a thread-pool hop and a query (decision 0006 measured what those cost on the
invoke path). A change made through this server's API is forgotten at once; one made by
another server sharing the catalogue is seen within `ttl_s`, as for invoke targets.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from lambdalite.urls.model import FunctionUrlConfig


class UrlDirectory:
    def __init__(
        self,
        lookup: Callable[[str], FunctionUrlConfig | None],
        ttl_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl_s = ttl_s
        self._clock = clock
        # Unknown ids are remembered too, so a client probing random ids costs no query.
        self._entries: dict[str, tuple[FunctionUrlConfig | None, float]] = {}

    async def get(self, url_id: str) -> FunctionUrlConfig | None:
        now = self._clock()
        entry = self._entries.get(url_id)
        if entry is not None and entry[1] > now:
            return entry[0]
        found = await run_in_threadpool(self._lookup, url_id)
        if len(self._entries) > 10_000:
            self._entries.clear()  # bounded: a scan of random ids must not grow it forever
        self._entries[url_id] = (found, now + self._ttl_s)
        return found

    def forget(self, url_id: str) -> None:
        """Called from any thread when a URL changed (dict.pop is atomic in CPython)."""
        self._entries.pop(url_id, None)
