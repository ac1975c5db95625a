"""Messages in the store: sending, claiming for a receive, deleting, redrive, expiry.

Every method is one write transaction, committed (and on SQLite fsync'd, synchronous=FULL)
before it returns: a send that got its response is on disk ("accepted means durable").
Claims lock what they take (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite serialises
writers with BEGIN IMMEDIATE), so two receivers never get the same receive of a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, func, insert, select, update

from lambdalite.queues.model import AttributeValue, Message, QueueCounts, QueueRef
from lambdalite.queues.receipts import new_nonce
from lambdalite.store.database import Database
from lambdalite.store.queue_schema import queue_deduplication, queue_messages, queues

_CLAIM_CHUNK = 100


@dataclass(frozen=True)
class NewMessage:
    """A message ready to store: ids, checksums and visibility already decided."""

    message_id: str
    body: str
    attributes: dict[str, Any]
    system_attributes: dict[str, Any]
    md5_of_body: str
    md5_of_attributes: str | None
    sender_id: str
    visible_at: float
    group_id: str | None
    deduplication_id: str | None


@dataclass(frozen=True)
class Stored:
    """What a send stored, or (a FIFO duplicate) what it had stored before."""

    message_id: str
    sequence_number: str | None


@dataclass(frozen=True)
class Redrive:
    target: QueueRef
    max_receive_count: int
    source_arn: str
    # "Using dead-letter queues": a FIFO message's enqueue time resets when it moves, a
    # standard one's does not (so the DLQ's retention counts from the original send).
    reset_sent_at: bool


@dataclass(frozen=True)
class Claim:
    messages: list[tuple[Message, str]]  # each with the nonce of this receive
    moved: int  # messages moved to the dead-letter queue on the way


class Outcome(StrEnum):
    DONE = "done"
    MISSING = "missing"  # no such message in this queue (deleted, expired, moved)
    STALE = "stale"  # the message was received again since this receipt
    NOT_IN_FLIGHT = "not-in-flight"
    BUSY = "busy"


class MessageStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        ref: QueueRef,
        messages: Sequence[NewMessage],
        now: float,
        fifo: bool,
        dedup_window: float,
    ) -> list[Stored]:
        """Store messages in order, in one transaction. On a FIFO queue, a deduplication
        id seen within `dedup_window` stores nothing and answers the first message."""
        stored: list[Stored] = []
        with self._db.write() as conn:
            sequence = _last_sequence(conn, ref) if fifo else 0
            for message in messages:
                number: str | None = None
                if fifo and message.deduplication_id is not None:
                    earlier = _duplicate_of(conn, ref, message.deduplication_id, now)
                    if earlier is not None:
                        stored.append(earlier)
                        continue
                    sequence += 1
                    number = f"{sequence:020d}"
                    _remember(conn, ref, message, number, now + dedup_window)
                conn.execute(insert(queue_messages).values(**_row(ref, message, now, number)))
                stored.append(Stored(message.message_id, number))
            if fifo:
                conn.execute(update(queues).where(*_queue_key(ref)).values(last_sequence=sequence))
        return stored

    def claim(
        self,
        ref: QueueRef,
        now: float,
        max_messages: int,
        visibility_timeout: int,
        retention_seconds: int,
        fifo: bool,
        redrive: Redrive | None,
    ) -> Claim:
        """Take up to `max_messages` visible messages, oldest first, for one receive.

        On a FIFO queue a message group is blocked while any of its messages is in flight
        or delayed, so a group is delivered strictly in order ("FIFO queue logic"). A
        message received `maxReceiveCount` times moves to the dead-letter queue instead.
        """
        claimed: list[tuple[Message, str]] = []
        moved = 0
        blocked: set[str | None] = set()
        after = 0
        with self._db.write() as conn:
            can_move = redrive is not None and _exists(conn, redrive.target)
            while len(claimed) < max_messages:
                rows = conn.execute(_candidates(ref, now, fifo, after)).all()
                for row in rows:
                    after = row.seq
                    if row.sent_at + retention_seconds <= now:
                        conn.execute(delete(queue_messages).where(queue_messages.c.seq == row.seq))
                    elif fifo and row.group_id in blocked:
                        continue
                    elif row.visible_at > now:
                        blocked.add(row.group_id)
                    elif can_move and redrive and row.receive_count >= redrive.max_receive_count:
                        _move(conn, row, redrive, now)
                        moved += 1
                    else:
                        nonce = new_nonce()
                        conn.execute(
                            update(queue_messages)
                            .where(queue_messages.c.seq == row.seq)
                            .values(
                                receive_count=row.receive_count + 1,
                                first_received_at=row.first_received_at or now,
                                visible_at=now + visibility_timeout,
                                receipt_nonce=nonce,
                            )
                        )
                        claimed.append((message_of(row, now), nonce))
                        if len(claimed) == max_messages:
                            break
                if len(rows) < _CLAIM_CHUNK:
                    break
        return Claim(claimed, moved)

    def delete(self, ref: QueueRef, message_id: str, nonce: str) -> Outcome:
        """Delete a message if `nonce` is its latest receive's. A stale receipt deletes
        nothing yet succeeds, as AWS's does ("DeleteMessage")."""
        with self._db.write() as conn:
            result = conn.execute(
                delete(queue_messages).where(
                    *_message_key(ref, message_id), queue_messages.c.receipt_nonce == nonce
                )
            )
        return Outcome.DONE if result.rowcount else Outcome.STALE

    def delete_many(self, ref: QueueRef, receipts: Sequence[tuple[str, str]]) -> int:
        """`delete` for several (message id, nonce) pairs in one transaction; returns how
        many were deleted."""
        deleted = 0
        with self._db.write() as conn:
            for message_id, nonce in receipts:
                result = conn.execute(
                    delete(queue_messages).where(
                        *_message_key(ref, message_id), queue_messages.c.receipt_nonce == nonce
                    )
                )
                deleted += result.rowcount
        return deleted

    def change_visibility(
        self, ref: QueueRef, message_id: str, nonce: str, timeout: int, now: float
    ) -> Outcome:
        with self._db.write() as conn:
            row = conn.execute(
                select(queue_messages.c.receipt_nonce, queue_messages.c.visible_at).where(
                    *_message_key(ref, message_id)
                )
            ).first()
            if row is None:
                return Outcome.MISSING
            if row.receipt_nonce != nonce:
                return Outcome.STALE
            if row.visible_at <= now:
                return Outcome.NOT_IN_FLIGHT
            conn.execute(
                update(queue_messages)
                .where(*_message_key(ref, message_id))
                .values(visible_at=now + timeout)
            )
        return Outcome.DONE

    def counts(self, ref: QueueRef, now: float, retention_seconds: int) -> QueueCounts:
        hidden = queue_messages.c.visible_at > now
        received = queue_messages.c.receipt_nonce.is_not(None)
        query = select(
            func.count().filter(~hidden),
            func.count().filter(and_(hidden, received)),
            func.count().filter(and_(hidden, ~received)),
        ).where(*_queue_messages(ref), queue_messages.c.sent_at > now - retention_seconds)
        with self._db.read() as conn:
            visible, in_flight, delayed = conn.execute(query).one()
        return QueueCounts(int(visible), int(in_flight), int(delayed))

    def purge(self, ref: QueueRef, now: float, min_interval: float) -> Outcome:
        """Delete every message; refused within `min_interval` of the last purge
        ("PurgeQueue": one purge per 60 seconds)."""
        with self._db.write() as conn:
            row = conn.execute(select(queues.c.last_purged_at).where(*_queue_key(ref))).first()
            if row is None:
                return Outcome.MISSING
            if row.last_purged_at is not None and now - row.last_purged_at < min_interval:
                return Outcome.BUSY
            conn.execute(delete(queue_messages).where(*_queue_messages(ref)))
            conn.execute(update(queues).where(*_queue_key(ref)).values(last_purged_at=now))
        return Outcome.DONE

    def expire(self, now: float, retention_of: dict[QueueRef, int]) -> int:
        """Delete messages past their queue's retention, and old deduplication ids."""
        removed = 0
        with self._db.write() as conn:
            for ref, retention in retention_of.items():
                result = conn.execute(
                    delete(queue_messages).where(
                        *_queue_messages(ref), queue_messages.c.sent_at <= now - retention
                    )
                )
                removed += result.rowcount
            conn.execute(delete(queue_deduplication).where(queue_deduplication.c.expires_at <= now))
        return removed


def message_of(row: Row[Any], received_at: float) -> Message:
    """The message as a receive at `received_at` of `row` (read just before) hands it out."""
    return Message(
        message_id=row.message_id,
        body=row.body,
        attributes={k: AttributeValue.from_store(v) for k, v in row.attributes.items()},
        system_attributes={
            k: AttributeValue.from_store(v) for k, v in row.system_attributes.items()
        },
        md5_of_body=row.md5_of_body,
        sender_id=row.sender_id,
        sent_at=row.sent_at,
        receive_count=row.receive_count + 1,
        first_received_at=row.first_received_at or received_at,
        group_id=row.group_id,
        deduplication_id=row.deduplication_id,
        sequence_number=row.sequence_number,
        dead_letter_source_arn=row.dead_letter_source_arn,
    )


def _candidates(ref: QueueRef, now: float, fifo: bool, after: int) -> Any:
    query = select(queue_messages).where(*_queue_messages(ref), queue_messages.c.seq > after)
    if not fifo:
        # FIFO must also see invisible messages: they block their group.
        query = query.where(queue_messages.c.visible_at <= now)
    # A standard queue's receivers skip each other's rows. A FIFO receiver waits for them
    # instead: a row another receive holds may be the head of its group, and skipping it
    # would hand out the message behind it first.
    return (
        query.order_by(queue_messages.c.seq)
        .limit(_CLAIM_CHUNK)
        .with_for_update(skip_locked=not fifo)
    )


def _move(conn: Connection, row: Row[Any], redrive: Redrive, now: float) -> None:
    values: dict[str, Any] = {
        "account_id": redrive.target.account_id,
        "queue_name": redrive.target.name,
        "visible_at": now,
        "receipt_nonce": None,
        # The count starts again in the dead-letter queue, so that queue's own redrive
        # policy (a chain of DLQs) counts receives there, not in the source.
        "receive_count": 0,
        "first_received_at": None,
        "dead_letter_source_arn": redrive.source_arn,
    }
    if redrive.reset_sent_at:
        values["sent_at"] = now
    conn.execute(update(queue_messages).where(queue_messages.c.seq == row.seq).values(**values))


def _row(ref: QueueRef, message: NewMessage, now: float, number: str | None) -> dict[str, Any]:
    return {
        "account_id": ref.account_id,
        "queue_name": ref.name,
        "message_id": message.message_id,
        "body": message.body,
        "attributes": message.attributes,
        "system_attributes": message.system_attributes,
        "md5_of_body": message.md5_of_body,
        "md5_of_attributes": message.md5_of_attributes,
        "sender_id": message.sender_id,
        "sent_at": now,
        "visible_at": message.visible_at,
        "receive_count": 0,
        "first_received_at": None,
        "receipt_nonce": None,
        "group_id": message.group_id,
        "deduplication_id": message.deduplication_id,
        "sequence_number": number,
        "dead_letter_source_arn": None,
    }


def _last_sequence(conn: Connection, ref: QueueRef) -> int:
    # Locks the queue's row (PostgreSQL): concurrent FIFO sends take sequence numbers and
    # check deduplication ids one after another.
    query = select(queues.c.last_sequence).where(*_queue_key(ref)).with_for_update()
    value = conn.execute(query).scalar()
    return int(value or 0)


def _duplicate_of(conn: Connection, ref: QueueRef, dedup_id: str, now: float) -> Stored | None:
    row = conn.execute(
        select(queue_deduplication).where(
            *_dedup_key(ref, dedup_id), queue_deduplication.c.expires_at > now
        )
    ).first()
    return Stored(row.message_id, row.sequence_number) if row else None


def _remember(
    conn: Connection, ref: QueueRef, message: NewMessage, number: str, expires_at: float
) -> None:
    dedup_id = message.deduplication_id or ""
    conn.execute(delete(queue_deduplication).where(*_dedup_key(ref, dedup_id)))
    conn.execute(
        insert(queue_deduplication).values(
            account_id=ref.account_id,
            queue_name=ref.name,
            deduplication_id=dedup_id,
            message_id=message.message_id,
            sequence_number=number,
            expires_at=expires_at,
        )
    )


def _exists(conn: Connection, ref: QueueRef) -> bool:
    return conn.execute(select(queues.c.name).where(*_queue_key(ref))).first() is not None


def _queue_key(ref: QueueRef) -> tuple[Any, ...]:
    return (queues.c.account_id == ref.account_id, queues.c.name == ref.name)


def _queue_messages(ref: QueueRef) -> tuple[Any, ...]:
    return (
        queue_messages.c.account_id == ref.account_id,
        queue_messages.c.queue_name == ref.name,
    )


def _message_key(ref: QueueRef, message_id: str) -> tuple[Any, ...]:
    return (*_queue_messages(ref), queue_messages.c.message_id == message_id)


def _dedup_key(ref: QueueRef, dedup_id: str) -> tuple[Any, ...]:
    return (
        queue_deduplication.c.account_id == ref.account_id,
        queue_deduplication.c.queue_name == ref.name,
        queue_deduplication.c.deduplication_id == dedup_id,
    )
