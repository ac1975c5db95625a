"""TargetCache: what the Invoker resolved from the store, kept for a moment.

Resolving an invocation's target reads the store three or four times (alias, version,
function, the account's reserved total) and checks the code tree: more than the whole
warm invocation costs. Entries live `ttl_s` (1 s) and every write through this server's
API drops its account's entries at once, so a change made here is seen by the next
invoke; a change made by another server sharing the database is seen within the TTL
(AWS itself takes seconds to propagate function updates).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class TargetCache(Generic[T]):
    def __init__(self, ttl_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[tuple[str, Hashable], tuple[float, T]] = {}

    def get(self, account_id: str, key: Hashable) -> T | None:
        entry = self._entries.get((account_id, key))
        if entry is None:
            return None
        expires, value = entry
        if expires < self._clock():
            self._entries.pop((account_id, key), None)
            return None
        return value

    def put(self, account_id: str, key: Hashable, value: T) -> T:
        self._entries[(account_id, key)] = (self._clock() + self._ttl_s, value)
        return value

    def forget(self, account_id: str) -> None:
        """Drop everything cached for an account (it changed something)."""
        for entry in [k for k in list(self._entries) if k[0] == account_id]:
            self._entries.pop(entry, None)

    def __len__(self) -> int:
        return len(self._entries)
