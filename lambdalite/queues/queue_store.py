"""Queues in the store: one row per queue. Every method is one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from lambdalite.queues.model import Queue, QueueRef
from lambdalite.store.database import Database
from lambdalite.store.mapping_schema import queue_tombstones
from lambdalite.store.queue_schema import queues


class NameResting(Exception):
    """The name belongs to a queue deleted too recently to be reused."""


class QueueStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, queue: Queue, rest_seconds: float = 0.0) -> Queue:
        """Insert `queue`, or return the queue of that name that already exists.
        NameResting if a queue of that name was deleted under `rest_seconds` ago."""
        try:
            with self._db.write() as conn:
                deleted = conn.execute(
                    select(queue_tombstones.c.deleted_at).where(*_tombstone_key(queue.ref))
                ).scalar()
                if deleted is not None and queue.created_at - deleted < rest_seconds:
                    raise NameResting(queue.ref.name)
                conn.execute(
                    insert(queues).values(
                        account_id=queue.ref.account_id,
                        name=queue.ref.name,
                        created_at=queue.created_at,
                        last_modified_at=queue.last_modified_at,
                        attributes=queue.attributes,
                        tags=queue.tags,
                        last_sequence=0,
                        last_purged_at=None,
                    )
                )
            return queue
        except IntegrityError:
            existing = self.get(queue.ref)
            if existing is None:  # deleted again in between: a rare race, retry once
                return self.create(queue, rest_seconds)
            return existing

    def get(self, ref: QueueRef) -> Queue | None:
        with self._db.read() as conn:
            row = conn.execute(select(queues).where(*_key(ref))).first()
        return _queue(row) if row else None

    def in_account(self, account_id: str, prefix: str = "") -> list[Queue]:
        """The account's queues by name, those starting with `prefix`."""
        query = select(queues).where(queues.c.account_id == account_id)
        with self._db.read() as conn:
            rows = conn.execute(query.order_by(queues.c.name)).all()
        # Prefix matching in Python: LIKE would treat _ in queue names as a wildcard.
        return [_queue(r) for r in rows if r.name.startswith(prefix)]

    def all(self) -> list[Queue]:
        with self._db.read() as conn:
            rows = conn.execute(select(queues)).all()
        return [_queue(r) for r in rows]

    def delete(self, ref: QueueRef, now: float) -> bool:
        """Delete a queue; its messages go with it (ON DELETE CASCADE). Its name is
        remembered with the time, for `create`'s rest period."""
        with self._db.write() as conn:
            result = conn.execute(delete(queues).where(*_key(ref)))
            if result.rowcount:
                stone = {"account_id": ref.account_id, "name": ref.name, "deleted_at": now}
                conn.execute(
                    self._db.insert(queue_tombstones)
                    .values(**stone)
                    .on_conflict_do_update(
                        index_elements=["account_id", "name"], set_={"deleted_at": now}
                    )
                )
        return bool(result.rowcount)

    def update_attributes(self, ref: QueueRef, changes: dict[str, str], now: float) -> bool:
        """Merge `changes` into the queue's attributes ("" removes one), read and written
        in one transaction so concurrent SetQueueAttributes calls do not lose updates."""
        with self._db.write() as conn:
            row = conn.execute(select(queues.c.attributes).where(*_key(ref))).first()
            if row is None:
                return False
            merged = {**row.attributes, **changes}
            conn.execute(
                update(queues)
                .where(*_key(ref))
                .values(
                    attributes={k: v for k, v in merged.items() if v != ""},
                    last_modified_at=now,
                )
            )
        return True

    def update_tags(self, ref: QueueRef, add: dict[str, str], remove: list[str]) -> bool:
        with self._db.write() as conn:
            row = conn.execute(select(queues.c.tags).where(*_key(ref))).first()
            if row is None:
                return False
            tags = {k: v for k, v in {**row.tags, **add}.items() if k not in remove}
            conn.execute(update(queues).where(*_key(ref)).values(tags=tags))
        return True


def _key(ref: QueueRef) -> tuple[Any, ...]:
    return (queues.c.account_id == ref.account_id, queues.c.name == ref.name)


def _tombstone_key(ref: QueueRef) -> tuple[Any, ...]:
    return (queue_tombstones.c.account_id == ref.account_id, queue_tombstones.c.name == ref.name)


def _queue(row: Row[Any]) -> Queue:
    return Queue(
        ref=QueueRef(row.account_id, row.name),
        created_at=row.created_at,
        last_modified_at=row.last_modified_at,
        attributes=dict(row.attributes),
        tags=dict(row.tags),
        last_purged_at=row.last_purged_at,
    )
