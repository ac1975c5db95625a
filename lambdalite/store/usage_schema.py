"""Usage records: one row per invocation (metering), on the one `metadata`.

Created by migration 0009. Times are epoch milliseconds; `day` (days since the epoch,
UTC) is what bills group by. GB-seconds and cost are exact decimals written as text:
SQLite has no exact decimal type, and bills are re-priced from the integer columns
(billed_ms, memory_mb) anyway, so the text is never summed in SQL. No foreign keys: a
bill still shows a deleted function's usage.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
)

from lambdalite.store.schema import metadata

usage_records = Table(
    "usage_records",
    metadata,
    # 64 bits on PostgreSQL (one row per invocation outgrows 2^31); SQLite's INTEGER
    # PRIMARY KEY is 64-bit already and only it autoincrements.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("function_name", String(64), nullable=False),
    Column("version", String(16), nullable=False),
    Column("request_id", String(36), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("day", Integer, nullable=False),
    Column("init_ms", Float, nullable=True),
    Column("duration_ms", Float, nullable=False),
    Column("billed_ms", BigInteger, nullable=False),
    Column("memory_mb", Integer, nullable=False),
    Column("max_memory_used_mb", Integer, nullable=False),
    Column("architecture", String(16), nullable=False),
    Column("ephemeral_storage_mb", Integer, nullable=False),
    Column("cold", Boolean, nullable=False),
    Column("provisioned", Boolean, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("error_type", String(128), nullable=True),
    Column("gb_seconds", String(40), nullable=False),
    Column("cost", String(80), nullable=False),
    # The cold-start breakdown (cold invocations only).
    Column("queued_ms", Float, nullable=True),
    Column("create_ms", Float, nullable=True),
    Column("runtime_ms", Float, nullable=True),
    Column("function_init_ms", Float, nullable=True),
    Index("ix_usage_records_account_time", "account_id", "started_at"),
    Index("ix_usage_records_time", "started_at"),
    Index("ix_usage_records_request", "request_id"),
)
