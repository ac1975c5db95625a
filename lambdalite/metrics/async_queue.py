"""AsyncQueueProbe: how many Event invocations wait, and for how long (read at scrape).

It reads the async invocation store's table (asyncinvoke/event_store.py owns the rows):
an event is `due` (claimable now: new, a retry whose backoff is over, or held by a
server whose lease ran out), `delayed` (waiting out a retry's backoff) or `running`
(claimed by a delivery loop, lease still valid). Its age counts from its 202.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, case, func, select

from lambdalite.store.async_schema import async_events as table
from lambdalite.store.database import Database


@dataclass(frozen=True)
class AsyncQueueStats:
    due: int
    delayed: int
    running: int
    oldest_enqueued_at: float | None  # epoch s; None: the queue is empty

    @property
    def depth(self) -> int:
        return self.due + self.delayed + self.running


class AsyncQueueProbe:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self.clock = clock

    def stats(self) -> AsyncQueueStats:
        now = self.clock()
        c = table.c
        later = c.due_at > now
        query = select(
            func.coalesce(func.sum(case((later, 0), else_=1)), 0),
            func.coalesce(func.sum(case((and_(later, c.owner.is_(None)), 1), else_=0)), 0),
            func.coalesce(func.sum(case((and_(later, c.owner.is_not(None)), 1), else_=0)), 0),
            func.min(c.enqueued_at),
        )
        with self._db.read() as conn:
            due, delayed, running, oldest = conn.execute(query).one()
        return AsyncQueueStats(int(due), int(delayed), int(running), oldest)
