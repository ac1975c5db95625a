"""The event source mappings' table (and the queue tombstones QueueDeletedRecently
needs), on the one `metadata` of `store/schema.py`.

Created by migration 0006. Times are epoch seconds (Float), from the platform's clock.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKeyConstraint,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from lambdalite.store.schema import metadata

event_source_mappings = Table(
    "event_source_mappings",
    metadata,
    Column("uuid", String(36), primary_key=True),
    Column("account_id", String(12), nullable=False),
    # No foreign key to the function: as on AWS, a mapping outlives its function.
    Column("function_name", String(64), nullable=False),
    Column("qualifier", String(128), nullable=False),  # "" when unqualified
    Column("source_kind", String(16), nullable=False),
    Column("source_arn", String(1024), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("state", String(16), nullable=False),
    Column("state_reason", String(64), nullable=False),
    Column("last_modified", Float, nullable=False),
    Column("batch_size", Integer, nullable=False),
    Column("batching_window", Integer, nullable=False),
    Column("function_response_types", JSON, nullable=False),
    Column("maximum_concurrency", Integer, nullable=True),
    Column("filter_patterns", JSON, nullable=False),
    # What only one kind of source uses, by AWS's member names (see mappings/model.py).
    Column("source_settings", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
    # One mapping per source and function (qualifier included), as AWS allows.
    UniqueConstraint(
        "account_id",
        "source_arn",
        "function_name",
        "qualifier",
        name="uq_event_source_mappings_source_function",
    ),
)

# A deleted queue's name stays taken for 60 seconds ("DeleteQueue"), across servers.
queue_tombstones = Table(
    "queue_tombstones",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name", String(80), primary_key=True),
    Column("deleted_at", Float, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
)
