"""EventIntake: accepting an Event invocation, durably, before its 202.

An accept is a check (the function and qualifier exist) and an insert, run as one
operation of a group commit (commits.py): events that arrive together share one
transaction and one fsync, and `add` returns only once its own event is committed. The
check runs on the commit's worker thread too, once per target per batch, so a burst
costs one thread hop and a few reads per batch instead of per event (measured in
docs/decisions/0402-async-invocation.md).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy import Connection

from lambdalite.asyncinvoke.commits import GroupCommit
from lambdalite.asyncinvoke.event_store import EventStore
from lambdalite.asyncinvoke.model import AsyncEvent
from lambdalite.errors import ApiError


class EventIntake:
    def __init__(
        self,
        commits: GroupCommit,
        store: EventStore,
        check: Callable[[AsyncEvent], None] = lambda _event: None,
    ) -> None:
        """`check` raises an ApiError for an event that must not be accepted (it runs on
        a worker thread and may read the store)."""
        self._commits = commits
        self._store = store
        self._check = check

    async def add(self, event: AsyncEvent) -> None:
        """Return once `event` is committed; raise the check's or the commit's error."""
        await self._commits.run(partial(self._accept, event), weight=len(event.payload))

    def _accept(self, event: AsyncEvent, conn: Connection, memo: dict[Any, Any]) -> None:
        key = ("accept-check", event.account_id, event.function_name, event.qualifier)
        if key not in memo:
            try:
                self._check(event)
                memo[key] = None
            except ApiError as exc:
                memo[key] = exc
        if memo[key] is not None:
            raise memo[key]
        self._store.insert(conn, [event])
