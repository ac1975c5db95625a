"""Asynchronous invocation's tables, on the one `metadata` of `store/schema.py`.

Created by migration 0005. Times are epoch seconds (Float) from the async service's
clock. Design: docs/decisions/0402-async-invocation.md.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from lambdalite.store.schema import metadata

# One row per accepted Event invocation, from its 202 until its record is written.
async_events = Table(
    "async_events",
    metadata,
    # The id the caller got with its 202; every attempt runs with it.
    Column("request_id", String(36), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("function_name", String(64), nullable=False),
    Column("qualifier", String(128), nullable=True),  # as invoked: None, a version or alias
    Column("payload", LargeBinary, nullable=False),
    Column("enqueued_at", Float, nullable=False),  # MaximumEventAgeInSeconds counts from here
    # Not claimable before this time: a retry's backoff, or the lease of the server that
    # claimed it (so an event a crashed server held comes back when the lease runs out).
    Column("due_at", Float, nullable=False),
    Column("owner", String(32), nullable=True),  # the claiming delivery loop; None: free
    Column("invoke_count", Integer, nullable=False),  # runs of the function so far
    # Consecutive throttles, platform failures or unwritable destinations (their backoff).
    Column("failures", Integer, nullable=False),
    # The latest run's response: {"statusCode", "executedVersion", "functionError"?, "payload"}.
    Column("response", JSON, nullable=True),
    # Set once the invocation is over and only its record is left to write.
    Column("condition", String(24), nullable=True),
    # That record: {"target": arn, "body": text, "attributes": {...}}.
    Column("delivery", JSON, nullable=True),
    Column("last_error", Text, nullable=True),  # why the last pass did not finish it
    # What enqueued it, for usage records: event, schedule or bucket (migration 0012).
    Column("trigger", String(16), nullable=False, server_default="event"),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
    Index("ix_async_events_due", "due_at"),
)

# Put/Get/Update/Delete/ListFunctionEventInvokeConfigs: one per (function, qualifier).
event_invoke_configs = Table(
    "event_invoke_configs",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("function_name", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),  # "$LATEST", a version or alias
    Column("maximum_retry_attempts", Integer, nullable=True),
    Column("maximum_event_age_seconds", Integer, nullable=True),
    Column("on_success", String(350), nullable=True),
    Column("on_failure", String(350), nullable=True),
    Column("last_modified", Float, nullable=False),
    ForeignKeyConstraint(
        ["account_id", "function_name"],
        ["functions.account_id", "functions.name"],
        ondelete="CASCADE",
    ),
)
