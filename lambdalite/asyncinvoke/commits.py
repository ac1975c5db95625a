"""GroupCommit: many small write transactions of the event loop's callers, committed
together.

Accepting an event, finishing one and rescheduling one are each a few statements and a
commit; on SQLite a commit is an fsync (synchronous=FULL) and writers take turns, so one
transaction each caps a server at a few hundred events a second. Here the operations
that arrive while a commit is running wait for the next one and share it: each runs in
its own SAVEPOINT (a failing one rolls back alone and raises to its caller only), and
every caller resumes after the commit that made its operation durable. A lone caller
still waits for one commit only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from lambdalite.store.database import Database

T = TypeVar("T")
# An operation: statements on the batch's connection. `memo` is scratch shared by the
# operations of one batch (e.g. a check made once for many events of one function).
Operation = Callable[[Connection, dict[Any, Any]], T]

# One transaction holds at most this much: a bounded statement list, and a bounded wait
# for the callers at the end of a burst.
MAX_BATCH_OPERATIONS = 512
MAX_BATCH_WEIGHT = 16 * 1024 * 1024  # bytes of payload, roughly


@dataclass
class _Pending(Generic[T]):
    operation: Operation[T]
    weight: int
    done: asyncio.Future[T] = field(repr=False)


class GroupCommit:
    """Belongs to one event loop (the server's), like the rest of the invoke path."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[_Pending[Any]] = []
        self._writer: asyncio.Task[None] | None = None

    async def run(self, operation: Operation[T], weight: int = 0) -> T:
        """Run `operation` in the next group transaction; return its result once that
        transaction committed, or raise what the operation (or the commit) raised."""
        pending: _Pending[T] = _Pending(
            operation, weight, asyncio.get_running_loop().create_future()
        )
        self._pending.append(pending)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="group-commit")
        return await pending.done

    async def _write(self) -> None:
        while self._pending:
            batch = _take_batch(self._pending)
            del self._pending[: len(batch)]
            try:
                outcomes = await run_in_threadpool(self._commit, batch)
            except Exception as exc:  # the commit failed: none of the batch is stored
                outcomes = [(False, exc)] * len(batch)
            for pending, (ok, value) in zip(batch, outcomes, strict=True):
                # A caller that went away (a client that disconnected) is not told; what
                # it asked for is committed all the same.
                if pending.done.done():
                    continue
                if ok:
                    pending.done.set_result(value)
                else:
                    pending.done.set_exception(value)

    def _commit(self, batch: list[_Pending[Any]]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        memo: dict[Any, Any] = {}
        with self._db.write() as conn:
            for pending in batch:
                try:
                    with conn.begin_nested():
                        outcomes.append((True, pending.operation(conn, memo)))
                except Exception as exc:
                    outcomes.append((False, exc))
        return outcomes


def _take_batch(pending: list[_Pending[Any]]) -> list[_Pending[Any]]:
    weight = 0
    for count, item in enumerate(pending[:MAX_BATCH_OPERATIONS]):
        weight += item.weight
        if weight > MAX_BATCH_WEIGHT and count:
            return pending[:count]
    return pending[:MAX_BATCH_OPERATIONS]
