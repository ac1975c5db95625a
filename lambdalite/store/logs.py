"""LogStore: log groups, streams and events, written in batches, read by stream."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from lambdalite.store.database import Database
from lambdalite.store.log_schema import log_events, log_groups, log_streams


@dataclass(frozen=True)
class StreamBatch:
    """Events of one stream to append: (timestamp ms, message) in order."""

    account_id: str
    log_group: str
    log_stream: str
    events: Sequence[tuple[int, str]]


@dataclass(frozen=True)
class LogEvent:
    id: int
    timestamp: int
    ingestion_time: int
    message: str


class LogStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Streams this process has created or seen: their group and stream rows exist.
        self._known: set[tuple[str, str, str]] = set()

    def append(self, batches: Sequence[StreamBatch], ingestion_time: int) -> None:
        """Append many streams' events in one transaction (one fsync for the lot)."""
        with self._db.write() as conn:
            for batch in batches:
                if batch.events:
                    self._append(conn, batch, ingestion_time)
        # Only once committed: a rolled-back transaction created no rows to remember.
        self._known.update((b.account_id, b.log_group, b.log_stream) for b in batches)

    def _append(self, conn: Connection, batch: StreamBatch, now: int) -> None:
        account, group, stream = batch.account_id, batch.log_group, batch.log_stream
        if (account, group, stream) not in self._known:
            self._ensure(
                conn, log_groups, {"account_id": account, "name": group, "created_at": now}
            )
            self._ensure(
                conn,
                log_streams,
                {
                    "account_id": account,
                    "log_group": group,
                    "name": stream,
                    "created_at": now,
                    "stored_bytes": 0,
                },
            )
        conn.execute(
            insert(log_events),
            [
                {
                    "account_id": account,
                    "log_group": group,
                    "log_stream": stream,
                    "timestamp": timestamp,
                    "ingestion_time": now,
                    "message": message,
                }
                for timestamp, message in batch.events
            ],
        )
        first, last = batch.events[0][0], batch.events[-1][0]
        size = sum(len(message.encode()) for _, message in batch.events)
        conn.execute(
            update(log_streams)
            .where(
                log_streams.c.account_id == account,
                log_streams.c.log_group == group,
                log_streams.c.name == stream,
            )
            .values(
                first_event_at=func.coalesce(log_streams.c.first_event_at, first),
                last_event_at=last,
                last_ingested_at=now,
                stored_bytes=log_streams.c.stored_bytes + size,
            )
        )

    def _ensure(self, conn: Connection, table: Any, row: dict[str, Any]) -> None:
        """Insert the row unless its key exists (portable INSERT ... ON CONFLICT DO NOTHING)."""
        conn.execute(self._db.insert(table).values(**row).on_conflict_do_nothing())

    def streams(self, account_id: str, log_group: str) -> list[str]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(log_streams.c.name)
                .where(log_streams.c.account_id == account_id, log_streams.c.log_group == log_group)
                .order_by(log_streams.c.created_at, log_streams.c.name)
            ).scalars()
            return list(rows)

    def events(
        self,
        account_id: str,
        log_group: str,
        log_stream: str,
        after_id: int = 0,
        limit: int = 10_000,
    ) -> list[LogEvent]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(log_events)
                .where(
                    log_events.c.account_id == account_id,
                    log_events.c.log_group == log_group,
                    log_events.c.log_stream == log_stream,
                    log_events.c.id > after_id,
                )
                .order_by(log_events.c.id)
                .limit(limit)
            ).all()
        return [LogEvent(r.id, r.timestamp, r.ingestion_time, r.message) for r in rows]
