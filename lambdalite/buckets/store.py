"""Buckets and their notified objects in the store. Every method is one transaction.

`record` is where "neither lost nor repeated" is decided: an object's new state and the
async events it triggers are written in the same transaction, and a change whose state
is already stored (another server on the same catalogue and shared directory got there
first, or a restarted server sees what it notified before) is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from lambdalite.asyncinvoke.model import AsyncEvent
from lambdalite.buckets.model import Bucket, BucketKind, Notification, ObjectChange, ObjectState
from lambdalite.store.bucket_schema import bucket_objects as objects
from lambdalite.store.bucket_schema import buckets as table
from lambdalite.store.database import Database

# Store accepted async events on the caller's connection (EventStore.insert).
Enqueue = Callable[[Connection, Sequence[AsyncEvent]], None]
# (the change, its sequence number) -> the events it triggers.
Events = Callable[[ObjectChange, int], list[AsyncEvent]]
BATCH = 200  # rows a baseline insert writes per statement


class BucketExists(Exception):
    pass


class BucketStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- buckets --------------------------------------------------------------------------
    def insert(self, bucket: Bucket, baseline: Mapping[str, ObjectState]) -> None:
        """Store a new bucket with the objects already in its directory (which then never
        trigger anything until they change). BucketExists if the name is taken."""
        try:
            with self._db.write() as conn:
                conn.execute(insert(table).values(**_row(bucket)))
                rows = [
                    {
                        "account_id": bucket.account_id,
                        "bucket": bucket.name,
                        "key": key,
                        "size": state.size,
                        "mtime_ns": state.mtime_ns,
                    }
                    for key, state in baseline.items()
                ]
                for start in range(0, len(rows), BATCH):
                    conn.execute(insert(objects), rows[start : start + BATCH])
        except IntegrityError:
            raise BucketExists(bucket.name) from None

    def get(self, account_id: str, name: str) -> Bucket | None:
        with self._db.read() as conn:
            row = conn.execute(select(table).where(*_key(account_id, name))).first()
        return _bucket(row) if row else None

    def of_account(self, account_id: str) -> list[Bucket]:
        query = select(table).where(table.c.account_id == account_id).order_by(table.c.name)
        with self._db.read() as conn:
            return [_bucket(row) for row in conn.execute(query)]

    def directories(self) -> list[Bucket]:
        """Every directory bucket (the watcher's work), in a stable order."""
        query = (
            select(table)
            .where(table.c.kind == BucketKind.DIRECTORY.value)
            .order_by(table.c.account_id, table.c.name)
        )
        with self._db.read() as conn:
            return [_bucket(row) for row in conn.execute(query)]

    def remove(self, account_id: str, name: str) -> bool:
        with self._db.write() as conn:
            result = conn.execute(delete(table).where(*_key(account_id, name)))
        return bool(result.rowcount)

    def set_notifications(
        self, account_id: str, name: str, notifications: Sequence[Notification]
    ) -> bool:
        stored = [_notification_row(n) for n in notifications]
        with self._db.write() as conn:
            result = conn.execute(
                update(table).where(*_key(account_id, name)).values(notifications=stored)
            )
        return bool(result.rowcount)

    # -- objects --------------------------------------------------------------------------
    def objects(self, account_id: str, name: str) -> dict[str, ObjectState]:
        query = select(objects.c.key, objects.c.size, objects.c.mtime_ns).where(
            objects.c.account_id == account_id, objects.c.bucket == name
        )
        with self._db.read() as conn:
            return {row.key: ObjectState(row.size, row.mtime_ns) for row in conn.execute(query)}

    def record(
        self, bucket: Bucket, changes: Iterable[ObjectChange], events: Events, enqueue: Enqueue
    ) -> list[ObjectChange]:
        """Store each change's new state and enqueue its events, in one transaction; the
        changes actually recorded (those not already in the store) are returned."""
        recorded: list[ObjectChange] = []
        with self._db.write() as conn:
            for change in changes:
                try:
                    with conn.begin_nested():
                        if not self._apply(conn, bucket, change):
                            continue
                        sequence = self._next_sequence(conn, bucket)
                        found = events(change, sequence)
                        if found:
                            enqueue(conn, found)
                except IntegrityError:
                    continue  # another server inserted this key's first state meanwhile
                recorded.append(change)
        return recorded

    def enqueue(self, batch: Sequence[AsyncEvent], enqueue: Enqueue) -> None:
        """Accept events that change no stored state (an external bucket's), all or none."""
        with self._db.write() as conn:
            enqueue(conn, batch)

    # -- helpers --------------------------------------------------------------------------
    def _apply(self, conn: Connection, bucket: Bucket, change: ObjectChange) -> bool:
        """Store the change; whether it is news (False: already stored, or the content is
        what was notified last and only the mtime moved)."""
        where = (
            objects.c.account_id == bucket.account_id,
            objects.c.bucket == bucket.name,
            objects.c.key == change.key,
        )
        row = conn.execute(
            select(objects.c.size, objects.c.mtime_ns, objects.c.etag)
            .where(*where)
            .with_for_update()
        ).first()
        if change.state is None:  # a removal
            if row is None:
                return False
            conn.execute(delete(objects).where(*where))
            return True
        if row is not None and ObjectState(row.size, row.mtime_ns) == change.state:
            return False
        values = {
            "size": change.state.size,
            "mtime_ns": change.state.mtime_ns,
            "etag": change.etag,
        }
        if row is None:
            conn.execute(
                insert(objects).values(
                    account_id=bucket.account_id, bucket=bucket.name, key=change.key, **values
                )
            )
            return True
        conn.execute(update(objects).where(*where).values(**values))
        return not (row.etag == change.etag and row.size == change.state.size)

    def _next_sequence(self, conn: Connection, bucket: Bucket) -> int:
        where = _key(bucket.account_id, bucket.name)
        current = conn.execute(select(table.c.sequence).where(*where).with_for_update()).scalar()
        sequence = int(current or 0) + 1
        conn.execute(update(table).where(*where).values(sequence=sequence))
        return sequence


def _key(account_id: str, name: str) -> tuple[Any, ...]:
    return (table.c.account_id == account_id, table.c.name == name)


def _row(bucket: Bucket) -> dict[str, Any]:
    return {
        "account_id": bucket.account_id,
        "name": bucket.name,
        "kind": bucket.kind.value,
        "path": bucket.path,
        "created_at": bucket.created_at,
        "sequence": 0,
        "notifications": [_notification_row(n) for n in bucket.notifications],
    }


def _notification_row(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id,
        "function_arn": n.function_arn,
        "function_name": n.function_name,
        "qualifier": n.qualifier,
        "events": list(n.events),
        "prefix": n.prefix,
        "suffix": n.suffix,
    }


def _bucket(row: Row[Any]) -> Bucket:
    return Bucket(
        account_id=row.account_id,
        name=row.name,
        kind=BucketKind(row.kind),
        path=row.path,
        created_at=row.created_at,
        notifications=tuple(
            Notification(
                id=n["id"],
                function_arn=n["function_arn"],
                function_name=n["function_name"],
                qualifier=n["qualifier"],
                events=tuple(n["events"]),
                prefix=n["prefix"],
                suffix=n["suffix"],
            )
            for n in row.notifications
        ),
    )
