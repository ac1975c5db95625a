"""LabelBudget: bounded `account`/`function` label values for Prometheus.

Every distinct label set is a time series the scraper keeps; a platform may hold
thousands of functions. At most `capacity` (account, function) pairs get series of their
own: a pair seen recently keeps its slot, a pair idle for `idle_s` gives it up to a new
one (its series are removed), and while every slot is busy newcomers are counted under
`function="(other)"` of their account — parentheses, because no function name can hold
them. So the busiest recent functions are named and the total is always right.
Account ids are not folded: accounts are created by the operator, not by traffic.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

OTHER = "(other)"
DEFAULT_CAPACITY = 100
DEFAULT_IDLE_S = 600.0

Key = tuple[str, str]  # (account, function)


class LabelBudget:
    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        idle_s: float = DEFAULT_IDLE_S,
        clock: Callable[[], float] = time.monotonic,
        on_evict: Callable[[Key], None] = lambda _key: None,
    ) -> None:
        self.capacity = capacity
        self.idle_s = idle_s
        self._clock = clock
        self._on_evict = on_evict
        self._seen: OrderedDict[Key, float] = OrderedDict()  # least recently seen first

    def labels(self, account: str, function: str) -> Key:
        """The label values to count (account, function) under. Not thread-safe: the
        caller holds its lock."""
        key = (account, function)
        now = self._clock()
        seen = self._seen
        if key in seen:
            seen[key] = now
            seen.move_to_end(key)
            return key
        if len(seen) >= self.capacity:
            if not seen:  # capacity 0: every function folds
                return (account, OTHER)
            oldest, at = next(iter(seen.items()))
            if now - at < self.idle_s:
                return (account, OTHER)
            del seen[oldest]
            self._on_evict(oldest)
        seen[key] = now
        return key

    def named(self) -> list[Key]:
        return list(self._seen)
