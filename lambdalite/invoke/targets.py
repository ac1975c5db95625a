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
        # Per account, so forgetting one account never walks the others' entries.
        self._accounts: dict[str, dict[Hashable, tuple[float, T]]] = {}

    def get(self, account_id: str, key: Hashable) -> T | None:
        entries = self._accounts.get(account_id)
        if entries is None:
            return None
        entry = entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires < self._clock():
            entries.pop(key, None)
            return None
        return value

    def put(self, account_id: str, key: Hashable, value: T) -> T:
        self._accounts.setdefault(account_id, {})[key] = (self._clock() + self._ttl_s, value)
        return value

    def forget(self, account_id: str) -> None:
        """Drop everything cached for an account (it changed something)."""
        self._accounts.pop(account_id, None)

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._accounts.values())
