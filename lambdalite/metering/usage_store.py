"""UsageStore: usage records in the store — written in the log writer's transaction, read
one invocation at a time, and summed for bills.

Bills are summed in SQL from integer columns only (counts, billed ms times MB), so the
sums are exact whatever the database; pricing them is the Bill's work, in Decimal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, select

from lambdalite.metering.record import Outcome, UsageRecord
from lambdalite.store.database import Database
from lambdalite.store.usage_schema import usage_records as table

_COLUMNS = (
    "account_id", "function_name", "version", "request_id", "trigger", "started_at", "day",
    "init_ms", "duration_ms", "billed_ms", "memory_mb", "max_memory_used_mb", "architecture",
    "ephemeral_storage_mb", "cold", "provisioned", "outcome", "error_type", "gb_seconds",
    "cost", "queued_ms", "create_ms", "runtime_ms", "function_init_ms",
)  # fmt: skip


@dataclass(frozen=True)
class UsageSums:
    """The usage of one account, day, function, architecture and kind (provisioned or
    on demand), summed: what a bill prices."""

    account_id: str
    day: int  # days since the epoch, UTC
    function_name: str
    architecture: str
    provisioned: bool
    requests: int  # invocations that ran (throttled ones are not billed)
    throttled: int
    billed_ms: int  # the REPORT lines' Billed Duration, summed
    mb_ms: int  # billed ms (under the book's rounding) x memory MB
    storage_mb_ms: int  # billed ms (same) x MB of /tmp past the book's included MB


class UsageStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- writing (inside the log writer's transaction) ------------------------------------
    @staticmethod
    def insert_in(conn: Connection, records: Sequence[UsageRecord]) -> None:
        """One driver-level executemany with tuples: SQLAlchemy's per-row parameter
        handling costs several times the insert (as for log events, decision 0006)."""
        UsageStore.insert_rows_in(conn, [usage_row(record) for record in records])

    @staticmethod
    def insert_rows_in(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows made by `usage_row` (the log sink's process receives them as such)."""
        if not rows:
            return
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        sql = (
            f"INSERT INTO usage_records ({', '.join(_COLUMNS)}) "
            f"VALUES ({', '.join([mark] * len(_COLUMNS))})"
        )
        conn.exec_driver_sql(sql, list(rows))

    # -- reading --------------------------------------------------------------------------
    def by_request(self, request_id: str, account_id: str | None = None) -> list[UsageRecord]:
        """The records of one request id (an async event's retries share theirs), oldest
        first; `account_id` None: of any account (root)."""
        query = select(table).where(table.c.request_id == request_id)
        if account_id is not None:
            query = query.where(table.c.account_id == account_id)
        with self._db.read() as conn:
            rows = conn.execute(query.order_by(table.c.started_at, table.c.id)).all()
        return [_record(row) for row in rows]

    def sums(
        self,
        since_ms: int | None,
        until_ms: int,
        account_id: str | None = None,
        rounding_ms: int = 1,
        included_storage_mb: int = 512,
    ) -> list[UsageSums]:
        """Usage started in [since, until), summed per account, day, function,
        architecture and kind, in that order (the order the free tier is used up in)."""
        c = table.c
        billed: Any = c.billed_ms
        if rounding_ms > 1:  # ceil(billed / r) * r, in integers
            billed = ((c.billed_ms + (rounding_ms - 1)) // rounding_ms) * rounding_ms
        ran = c.outcome != Outcome.THROTTLED.value
        extra_mb = c.ephemeral_storage_mb - included_storage_mb
        where: list[ColumnElement[bool]] = [c.started_at < until_ms]
        if since_ms is not None:
            where.append(c.started_at >= since_ms)
        if account_id is not None:
            where.append(c.account_id == account_id)
        keys = (c.account_id, c.day, c.function_name, c.architecture, c.provisioned)
        query = (
            select(
                *keys,
                func.sum(case((ran, 1), else_=0)).label("requests"),
                func.sum(case((ran, 0), else_=1)).label("throttled"),
                func.coalesce(func.sum(c.billed_ms), 0).label("billed_ms"),
                func.coalesce(func.sum(billed * c.memory_mb), 0).label("mb_ms"),
                func.coalesce(
                    func.sum(case((and_(ran, extra_mb > 0), billed * extra_mb), else_=0)), 0
                ).label("storage_mb_ms"),
            )
            .where(*where)
            .group_by(*keys)
            .order_by(*keys)
        )
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [
            UsageSums(
                r.account_id,
                int(r.day),
                r.function_name,
                r.architecture,
                bool(r.provisioned),
                int(r.requests),
                int(r.throttled),
                int(r.billed_ms),
                int(r.mb_ms),
                int(r.storage_mb_ms),
            )
            for r in rows
        ]


def usage_row(r: UsageRecord) -> tuple[Any, ...]:
    return (
        r.account_id, r.function_name, r.version, r.request_id, r.trigger, r.started_at,
        r.day, r.init_ms, r.duration_ms, r.billed_ms, r.memory_mb, r.max_memory_used_mb,
        r.architecture, r.ephemeral_storage_mb, r.cold, r.provisioned, r.outcome.value,
        r.error_type, format(r.gb_seconds, "f"), format(r.cost, "f"), r.queued_ms,
        r.create_ms, r.runtime_ms, r.function_init_ms,
    )  # fmt: skip


def _record(row: Any) -> UsageRecord:
    return UsageRecord(
        account_id=row.account_id,
        function_name=row.function_name,
        version=row.version,
        request_id=row.request_id,
        trigger=row.trigger,
        started_at=int(row.started_at),
        init_ms=row.init_ms,
        duration_ms=row.duration_ms,
        billed_ms=int(row.billed_ms),
        memory_mb=row.memory_mb,
        max_memory_used_mb=row.max_memory_used_mb,
        architecture=row.architecture,
        ephemeral_storage_mb=row.ephemeral_storage_mb,
        cold=bool(row.cold),
        provisioned=bool(row.provisioned),
        outcome=Outcome(row.outcome),
        error_type=row.error_type,
        gb_seconds=Decimal(row.gb_seconds),
        cost=Decimal(row.cost),
        queued_ms=row.queued_ms,
        create_ms=row.create_ms,
        runtime_ms=row.runtime_ms,
        function_init_ms=row.function_init_ms,
    )
