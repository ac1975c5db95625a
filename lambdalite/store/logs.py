"""LogStore: log groups, streams and events, written in batches, read by the Logs API.

Every read is bounded by an index: a stream's events by (account, group, stream,
timestamp, id), a group's by (account, group, timestamp). Paging is by keyset on the
(timestamp, id) position, never OFFSET over events, so a page costs the same at the
millionth event as at the first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    LargeBinary,
    cast,
    delete,
    func,
    not_,
    or_,
    select,
    tuple_,
    update,
)

from lambdalite.logs.filter_pattern import FilterPattern
from lambdalite.settings import LogLimits
from lambdalite.store.database import Database
from lambdalite.store.log_schema import log_events, log_groups, log_streams


class Position(NamedTuple):
    """An event's place in (timestamp, id) order; (t, 0) sorts before every event at t."""

    timestamp: int
    event_id: int


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
    log_stream: str = ""

    @property
    def position(self) -> Position:
        return Position(self.timestamp, self.id)


@dataclass(frozen=True)
class LogGroup:
    account_id: str
    name: str
    created_at: int
    retention_days: int | None
    stored_bytes: int


@dataclass(frozen=True)
class LogStream:
    name: str
    created_at: int
    first_event_at: int | None
    last_event_at: int | None
    last_ingested_at: int | None


@dataclass(frozen=True)
class EventQuery:
    """Which events of one group to read, in which order, from where (half-open times)."""

    account_id: str
    log_group: str
    streams: Sequence[str] | None = None  # None: every stream
    stream_prefix: str | None = None
    start: int | None = None  # inclusive
    end: int | None = None  # exclusive
    after: Position | None = None  # ascending: strictly after; descending: strictly before
    until: Position | None = None  # ascending: up to and with it; descending: down to it
    ascending: bool = True


class LogStore:
    def __init__(self, db: Database, limits: LogLimits | None = None) -> None:
        self._db = db
        # The storage policy: flood caps that LogWriter applies before anything is stored.
        self.limits = limits or LogLimits()

    # -- writing ----------------------------------------------------------------------------
    def append(
        self,
        batches: Sequence[StreamBatch],
        ingestion_time: int,
        also: Callable[[Connection], None] | None = None,
    ) -> None:
        """Append many streams' events in one transaction (one fsync for the lot); `also`
        writes what belongs in the same transaction (the invocations' usage records)."""
        live = [batch for batch in batches if batch.events]
        if not live and also is None:
            return
        with self._db.write() as conn:
            if live:
                self._insert_events(conn, live, ingestion_time)
                self._touch_streams(conn, live, ingestion_time)
            if also is not None:
                also(conn)

    @staticmethod
    def _insert_events(conn: Connection, batches: Sequence[StreamBatch], now: int) -> None:
        """Every event of every stream in one driver-level executemany with tuples: this
        runs for each line any function prints, and SQLAlchemy's per-row parameter
        handling cost ~4x the insert itself (the log writer's thread then held the GIL the
        event loop needed; decision 0006)."""
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        sql = (
            "INSERT INTO log_events "
            "(account_id, log_group, log_stream, timestamp, ingestion_time, message) "
            f"VALUES ({', '.join([mark] * 6)})"
        )
        rows = [
            (batch.account_id, batch.log_group, batch.log_stream, timestamp, now, message)
            for batch in batches
            for timestamp, message in batch.events
        ]
        conn.exec_driver_sql(sql, rows)

    def _touch_streams(self, conn: Connection, batches: Sequence[StreamBatch], now: int) -> None:
        """Bring each batch's stream row (times, stored bytes) up to date, creating the
        group and stream where missing: a new sandbox, or a group deleted (DeleteLogGroup)
        or a stream emptied by retention since, possibly by another server sharing the
        database; Lambda creates them again too. Two driver-level executemany upserts, not
        a statement built per stream: at c=64 a flush touches 64 streams, and building
        an SQLAlchemy UPDATE for each cost ~300 µs (decision 0007, fifth round)."""
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        groups = list(dict.fromkeys((batch.account_id, batch.log_group) for batch in batches))
        conn.exec_driver_sql(
            "INSERT INTO log_groups (account_id, name, created_at) "
            f"VALUES ({mark}, {mark}, {mark}) ON CONFLICT DO NOTHING",
            [(account, group, now) for account, group in groups],
        )
        latest = "max" if self._db.is_sqlite else "greatest"
        conn.exec_driver_sql(
            "INSERT INTO log_streams (account_id, log_group, name, created_at, "
            "first_event_at, last_event_at, last_ingested_at, stored_bytes) "
            f"VALUES ({', '.join([mark] * 8)}) "
            "ON CONFLICT (account_id, log_group, name) DO UPDATE SET "
            "first_event_at = coalesce(log_streams.first_event_at, excluded.first_event_at), "
            f"last_event_at = {latest}(coalesce(log_streams.last_event_at, "
            "excluded.last_event_at), excluded.last_event_at), "
            "last_ingested_at = excluded.last_ingested_at, "
            "stored_bytes = log_streams.stored_bytes + excluded.stored_bytes",
            [
                (
                    batch.account_id,
                    batch.log_group,
                    batch.log_stream,
                    now,
                    batch.events[0][0],
                    batch.events[-1][0],
                    now,
                    sum(len(message.encode()) for _, message in batch.events),
                )
                for batch in batches
            ],
        )

    def _ensure(self, conn: Connection, table: Any, row: dict[str, Any]) -> bool:
        """Insert the row unless its key exists (portable INSERT ... ON CONFLICT DO NOTHING)."""
        result = conn.execute(self._db.insert(table).values(**row).on_conflict_do_nothing())
        return bool(result.rowcount)

    # -- groups -----------------------------------------------------------------------------
    def create_group(self, account_id: str, name: str, now: int) -> bool:
        """False if the group exists already."""
        with self._db.write() as conn:
            row = {"account_id": account_id, "name": name, "created_at": now}
            return self._ensure(conn, log_groups, row)

    def delete_group(self, account_id: str, name: str) -> bool:
        """The group, its streams and events; False if there was no such group."""
        with self._db.write() as conn:
            gone = conn.execute(
                delete(log_groups).where(
                    log_groups.c.account_id == account_id, log_groups.c.name == name
                )
            ).rowcount
            if gone:
                for table in (log_events, log_streams):
                    conn.execute(
                        delete(table).where(
                            table.c.account_id == account_id, table.c.log_group == name
                        )
                    )
        return bool(gone)

    def set_retention(self, account_id: str, name: str, days: int | None) -> bool:
        with self._db.write() as conn:
            return bool(
                conn.execute(
                    update(log_groups)
                    .where(log_groups.c.account_id == account_id, log_groups.c.name == name)
                    .values(retention_days=days)
                ).rowcount
            )

    def group(self, account_id: str, name: str) -> LogGroup | None:
        groups = self._groups(log_groups.c.account_id == account_id, log_groups.c.name == name)
        return groups[0] if groups else None

    def groups(
        self,
        account_id: str,
        limit: int,
        prefix: str | None = None,
        containing: str | None = None,
        names: Sequence[str] | None = None,
        after: str | None = None,
    ) -> list[LogGroup]:
        """Up to `limit` of the account's groups in ASCII order of name (DescribeLogGroups'
        order), past `after`; by name prefix, case-sensitive substring, or exact names."""
        name = log_groups.c.name
        where = [log_groups.c.account_id == account_id]
        if prefix:
            where.append(_starts_with(name, prefix))
        if containing:
            where.append(self._contains(name, containing))
        if names is not None:
            where.append(name.in_(list(names)))
        if after is not None:
            where.append(self._ascii(name) > after)
        return self._groups(*where, limit=limit)

    def retained_groups(self) -> list[LogGroup]:
        """Every group with a retention policy, of every account (the reaper's work list)."""
        return self._groups(log_groups.c.retention_days.is_not(None))

    def _groups(self, *where: ColumnElement[bool], limit: int | None = None) -> list[LogGroup]:
        stored = (
            select(func.coalesce(func.sum(log_streams.c.stored_bytes), 0))
            .where(
                log_streams.c.account_id == log_groups.c.account_id,
                log_streams.c.log_group == log_groups.c.name,
            )
            .scalar_subquery()
        )
        with self._db.read() as conn:
            rows = conn.execute(
                select(log_groups, stored.label("stored_bytes"))
                .where(*where)
                .order_by(log_groups.c.account_id, self._ascii(log_groups.c.name))
                .limit(limit)
            ).all()
        return [
            LogGroup(r.account_id, r.name, r.created_at, r.retention_days, int(r.stored_bytes))
            for r in rows
        ]

    # -- streams ----------------------------------------------------------------------------
    def streams(self, account_id: str, log_group: str) -> list[str]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(log_streams.c.name)
                .where(log_streams.c.account_id == account_id, log_streams.c.log_group == log_group)
                .order_by(log_streams.c.created_at, log_streams.c.name)
            ).scalars()
            return list(rows)

    def stream(self, account_id: str, log_group: str, name: str) -> LogStream | None:
        with self._db.read() as conn:
            row = conn.execute(
                select(log_streams).where(*_stream_key(account_id, log_group, name))
            ).first()
        return _stream(row) if row else None

    def stream_page(
        self,
        account_id: str,
        log_group: str,
        limit: int,
        prefix: str | None = None,
        by_last_event: bool = False,
        descending: bool = False,
        after: tuple[int, str] | None = None,
    ) -> list[LogStream]:
        """Up to `limit` streams of a group, by name or by (last event time, name), from
        just past the `after` key (its time is ignored when ordering by name)."""
        name = self._ascii(log_streams.c.name)
        keys: list[Any] = [name]
        if by_last_event:
            keys.insert(0, func.coalesce(log_streams.c.last_event_at, 0))
        where = [log_streams.c.account_id == account_id, log_streams.c.log_group == log_group]
        if prefix:
            where.append(_starts_with(log_streams.c.name, prefix))
        if after is not None:
            key = tuple_(*keys)
            bound = tuple_(*(after if by_last_event else after[1:]))
            where.append(key < bound if descending else key > bound)
        order = [k.desc() if descending else k.asc() for k in keys]
        with self._db.read() as conn:
            rows = conn.execute(select(log_streams).where(*where).order_by(*order).limit(limit))
            return [_stream(row) for row in rows]

    # -- events -----------------------------------------------------------------------------
    def events(
        self,
        account_id: str,
        log_group: str,
        log_stream: str,
        after_id: int = 0,
        limit: int = 10_000,
    ) -> list[LogEvent]:
        """A stream's events in the order they were stored (tests and tools)."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(log_events)
                .where(
                    *_event_stream(account_id, log_group, log_stream),
                    log_events.c.id > after_id,
                )
                .order_by(log_events.c.id)
                .limit(limit)
            ).all()
        return [_event(r) for r in rows]

    def read(
        self, query: EventQuery, limit: int, pattern: FilterPattern | None = None
    ) -> list[LogEvent]:
        """Up to `limit` events matching the query and pattern, in its order."""
        where = [*self._where(query), *self._matching(pattern)]
        with self._db.read() as conn:
            rows = conn.execute(
                select(log_events).where(*where).order_by(*_order(query)).limit(limit)
            ).all()
        return [_event(r) for r in rows]

    def horizon(self, query: EventQuery, budget: int) -> Position | None:
        """The position of the `budget`-th event the query would read (pattern aside), or
        None when no event comes after it: reading up to it bounds one page's work when
        a pattern matches little (FilterLogEvents may answer a partial page)."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(log_events.c.timestamp, log_events.c.id)
                .where(*self._where(query))
                .order_by(*_order(query))
                .offset(budget - 1)
                .limit(2)
            ).all()
        return Position(rows[0].timestamp, rows[0].id) if len(rows) == 2 else None

    def _where(self, query: EventQuery) -> list[ColumnElement[bool]]:
        c = log_events.c
        where = [c.account_id == query.account_id, c.log_group == query.log_group]
        if query.streams is not None and len(query.streams) == 1:
            where.append(c.log_stream == query.streams[0])  # GetLogEvents: one index range
        elif query.streams is not None:
            where.append(c.log_stream.in_(list(query.streams)))
        if query.stream_prefix:
            where.append(_starts_with(c.log_stream, query.stream_prefix))
        if query.start is not None:
            where.append(c.timestamp >= query.start)
        if query.end is not None:
            where.append(c.timestamp < query.end)
        if query.after is not None:
            position, bound = tuple_(c.timestamp, c.id), tuple_(*query.after)
            where.append(position > bound if query.ascending else position < bound)
        if query.until is not None:
            position, bound = tuple_(c.timestamp, c.id), tuple_(*query.until)
            where.append(position <= bound if query.ascending else position >= bound)
        return where

    def _matching(self, pattern: FilterPattern | None) -> list[ColumnElement[bool]]:
        """The pattern as SQL: each of its rules is a case-sensitive substring test, which
        instr() (SQLite) and strpos() (PostgreSQL) are, where LIKE is not."""
        if pattern is None or pattern.matches_everything:
            return []

        def contains(term: str) -> ColumnElement[bool]:
            return self._contains(log_events.c.message, term)

        where = [contains(term) for term in pattern.all_of]
        if pattern.any_of:
            where.append(or_(*(contains(term) for term in pattern.any_of)))
        where.extend(not_(contains(term)) for term in pattern.none_of)
        return where

    # -- retention --------------------------------------------------------------------------
    def expire(self, account_id: str, log_group: str, before: int, batch: int = 5_000) -> int:
        """Delete up to `batch` of the group's events older than `before`, and the streams
        that left empty; returns how many events went. One short transaction per batch,
        so function logs keep flowing while a large backlog expires."""
        oldest = (
            select(log_events.c.id)
            .where(
                log_events.c.account_id == account_id,
                log_events.c.log_group == log_group,
                log_events.c.timestamp < before,
            )
            .limit(batch)
        )
        with self._db.write() as conn:
            # RETURNING: exactly what this transaction deleted, even when another server's
            # reaper runs the same pass.
            deleted = conn.execute(
                delete(log_events)
                .where(log_events.c.id.in_(oldest.scalar_subquery()))
                .returning(log_events.c.log_stream, self._bytes(log_events.c.message))
            ).all()
            freed: dict[str, int] = defaultdict(int)
            for stream, size in deleted:
                freed[stream] += int(size)
            for stream, size in freed.items():
                self._after_expiry(conn, account_id, log_group, stream, size)
        return len(deleted)

    def _after_expiry(
        self, conn: Connection, account_id: str, log_group: str, stream: str, freed: int
    ) -> None:
        left = select(log_events.c.id).where(*_event_stream(account_id, log_group, stream))
        if conn.execute(left.limit(1)).first() is None:
            conn.execute(delete(log_streams).where(*_stream_key(account_id, log_group, stream)))
            return
        first = select(func.min(log_events.c.timestamp)).where(
            *_event_stream(account_id, log_group, stream)
        )
        conn.execute(
            update(log_streams)
            .where(*_stream_key(account_id, log_group, stream))
            .values(
                first_event_at=first.scalar_subquery(),
                stored_bytes=func.max(log_streams.c.stored_bytes - freed, 0)
                if self._db.is_sqlite
                else func.greatest(log_streams.c.stored_bytes - freed, 0),
            )
        )

    # -- dialect ----------------------------------------------------------------------------
    def _ascii(self, column: Any) -> Any:
        """AWS lists names in ASCII order; PostgreSQL's default collation may not be."""
        return column if self._db.is_sqlite else column.collate("C")

    def _contains(self, column: Any, text: str) -> ColumnElement[bool]:
        position = func.instr if self._db.is_sqlite else func.strpos
        return position(column, text) > 0

    def _bytes(self, column: Any) -> Any:
        if self._db.is_sqlite:
            return func.length(cast(column, LargeBinary))
        return func.octet_length(column)


def _stream_key(account_id: str, log_group: str, name: str) -> list[ColumnElement[bool]]:
    c = log_streams.c
    return [c.account_id == account_id, c.log_group == log_group, c.name == name]


def _event_stream(account_id: str, log_group: str, stream: str) -> list[ColumnElement[bool]]:
    c = log_events.c
    return [c.account_id == account_id, c.log_group == log_group, c.log_stream == stream]


def _starts_with(column: Any, prefix: str) -> ColumnElement[bool]:
    # Not LIKE: SQLite's is case-insensitive and AWS's prefixes are not.
    matches: ColumnElement[bool] = func.substr(column, 1, len(prefix)) == prefix
    return matches


def _order(query: EventQuery) -> list[Any]:
    columns = (log_events.c.timestamp, log_events.c.id)
    return [c.asc() if query.ascending else c.desc() for c in columns]


def _event(row: Any) -> LogEvent:
    return LogEvent(row.id, row.timestamp, row.ingestion_time, row.message, row.log_stream)


def _stream(row: Any) -> LogStream:
    return LogStream(
        row.name, row.created_at, row.first_event_at, row.last_event_at, row.last_ingested_at
    )
