"""The log tables (CloudWatch Logs' model: groups, streams, events), on the one `metadata`.

Created by migration 0003 (indexes as of 0007). Times are epoch milliseconds, as the Logs
API speaks them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from lambdalite.store.schema import metadata

log_groups = Table(
    "log_groups",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name", String(512), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("retention_days", Integer, nullable=True),  # None: never expire (AWS default)
)

log_streams = Table(
    "log_streams",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("log_group", String(512), primary_key=True),
    Column("name", String(512), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("first_event_at", BigInteger, nullable=True),
    Column("last_event_at", BigInteger, nullable=True),
    Column("last_ingested_at", BigInteger, nullable=True),
    Column("stored_bytes", BigInteger, nullable=False),
)

log_events = Table(
    "log_events",
    metadata,
    # The row id orders events within a stream and serves as the paging token.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("log_group", String(512), nullable=False),
    Column("log_stream", String(512), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("ingestion_time", BigInteger, nullable=False),
    Column("message", Text, nullable=False),
    # GetLogEvents reads a stream in (timestamp, id) order from either end or a token's
    # position; FilterLogEvents reads a group by time (migration 0007 replaced the
    # stream index ordered by id alone).
    Index("ix_log_events_stream_time", "account_id", "log_group", "log_stream", "timestamp", "id"),
    Index("ix_log_events_group_time", "account_id", "log_group", "timestamp"),
)
