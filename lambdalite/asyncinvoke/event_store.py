"""Accepted events in the store: adding, claiming with a lease, rescheduling, finishing.

Every method is one transaction. `add` commits before the caller answers 202 (on SQLite,
synchronous=FULL fsyncs the commit). A claim moves `due_at` to the end of a lease and
names its owner, so a second server skips the row (`FOR UPDATE SKIP LOCKED` on
PostgreSQL; SQLite serialises writers) and an event whose owner died comes back by
itself when the lease runs out. Later writes are guarded by the owner: a loop that lost
its lease changes nothing.

`insert`, `finish_in` and `reschedule_in` take the caller's connection, so a group
commit (commits.py) can run many of them in one transaction; the methods without a
connection are each their own transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from lambdalite.asyncinvoke.model import AsyncEvent, Condition, Delivery, Response
from lambdalite.store.async_schema import async_events as table
from lambdalite.store.database import Database


class EventStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, events: Sequence[AsyncEvent]) -> None:
        with self._db.write() as conn:
            self.insert(conn, events)

    def insert(self, conn: Connection, events: Sequence[AsyncEvent]) -> None:
        if events:
            conn.execute(insert(table), [_row(event) for event in events])

    def has_due(self, now: float) -> bool:
        """Whether anything is claimable: a cheap read, so an idle pass takes no write lock."""
        query = select(table.c.request_id).where(table.c.due_at <= now).limit(1)
        with self._db.read() as conn:
            return conn.execute(query).first() is not None

    def claim(self, owner: str, now: float, limit: int, lease_s: float) -> list[AsyncEvent]:
        """Take up to `limit` due events, oldest due first, for `lease_s` seconds."""
        query = (
            select(table)
            .where(table.c.due_at <= now)
            .order_by(table.c.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self._db.write() as conn:
            rows = conn.execute(query).all()
            if rows:
                conn.execute(
                    update(table)
                    .where(table.c.request_id.in_([row.request_id for row in rows]))
                    .values(owner=owner, due_at=now + lease_s)
                )
        return [_event(row) for row in rows]

    def renew(self, owner: str, request_ids: Sequence[str], until: float) -> None:
        """Extend the leases of events still running here."""
        if not request_ids:
            return
        with self._db.write() as conn:
            conn.execute(
                update(table)
                .where(table.c.request_id.in_(list(request_ids)), table.c.owner == owner)
                .values(due_at=until)
            )

    def reschedule(self, owner: str, event: AsyncEvent) -> bool:
        with self._db.write() as conn:
            return self.reschedule_in(conn, owner, event)

    def reschedule_in(self, conn: Connection, owner: str, event: AsyncEvent) -> bool:
        """Write an event's progress back and free it until `event.due_at`. False: the
        lease was lost (another loop has the event now)."""
        values = _row(event)
        for key in ("request_id", "account_id", "function_name", "qualifier", "payload"):
            del values[key]
        result = conn.execute(
            update(table)
            .where(table.c.request_id == event.request_id, table.c.owner == owner)
            .values(**values)
        )
        return bool(result.rowcount)

    def finish(self, owner: str, request_id: str, follow_up: AsyncEvent | None = None) -> bool:
        with self._db.write() as conn:
            return self.finish_in(conn, owner, request_id, follow_up)

    def finish_in(
        self, conn: Connection, owner: str, request_id: str, follow_up: AsyncEvent | None = None
    ) -> bool:
        """Remove a finished event and, with it, accept `follow_up` (its record, bound for
        a function destination). False: the lease was lost."""
        result = conn.execute(
            delete(table).where(table.c.request_id == request_id, table.c.owner == owner)
        )
        if result.rowcount and follow_up is not None:
            self.insert(conn, [follow_up])
        return bool(result.rowcount)

    def release(self, owner: str, now: float) -> int:
        """Hand back every event this owner holds (a clean stop), due at once."""
        with self._db.write() as conn:
            result = conn.execute(
                update(table).where(table.c.owner == owner).values(owner=None, due_at=now)
            )
        return int(result.rowcount)

    def get(self, request_id: str) -> AsyncEvent | None:
        with self._db.read() as conn:
            row = conn.execute(select(table).where(table.c.request_id == request_id)).first()
        return _event(row) if row is not None else None

    def count(self) -> int:
        with self._db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _row(event: AsyncEvent) -> dict[str, Any]:
    return {
        "request_id": event.request_id,
        "account_id": event.account_id,
        "function_name": event.function_name,
        "qualifier": event.qualifier,
        "payload": event.payload,
        "enqueued_at": event.enqueued_at,
        "due_at": event.due_at,
        "owner": None,
        "invoke_count": event.invoke_count,
        "failures": event.failures,
        "response": event.response.to_store() if event.response else None,
        "condition": event.condition.value if event.condition else None,
        "delivery": event.delivery.to_store() if event.delivery else None,
        "trigger": event.trigger,
        "last_error": event.last_error,
    }


def _event(row: Row[Any]) -> AsyncEvent:
    return AsyncEvent(
        request_id=row.request_id,
        account_id=row.account_id,
        function_name=row.function_name,
        qualifier=row.qualifier,
        payload=bytes(row.payload),
        enqueued_at=row.enqueued_at,
        due_at=row.due_at,
        invoke_count=row.invoke_count,
        failures=row.failures,
        response=Response.from_store(row.response) if row.response else None,
        condition=Condition(row.condition) if row.condition else None,
        delivery=Delivery.from_store(row.delivery) if row.delivery else None,
        last_error=row.last_error,
        trigger=row.trigger,
    )
