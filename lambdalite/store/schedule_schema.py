"""Scheduled rules (EventBridge's PutRule with a ScheduleExpression) and their targets,
on the one `metadata` of `store/schema.py`.

Created by migration 0008. Times are epoch seconds (Float) from the scheduler's clock.
Design: docs/decisions/0502-schedules.md.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    String,
    Table,
    Text,
)

from lambdalite.store.schema import metadata

schedule_rules = Table(
    "schedule_rules",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("schedule_expression", String(256), nullable=False),
    Column("state", String(16), nullable=False),  # ENABLED | DISABLED
    Column("description", String(512), nullable=True),
    Column("role_arn", String(1600), nullable=True),
    Column("tags", JSON, nullable=False),  # {"key": "value"}
    Column("created_at", Float, nullable=False),
    # When the rule fires next; None while disabled or when the schedule has no future
    # time (a cron whose years are over). The scheduler advances it in the transaction
    # that enqueues the firing, so a restart neither loses nor repeats a run.
    Column("next_due_at", Float, nullable=True),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
    Index("ix_schedule_rules_due", "next_due_at"),
)

schedule_targets = Table(
    "schedule_targets",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("rule_name", String(64), primary_key=True),
    Column("target_id", String(64), primary_key=True),
    Column("arn", String(1600), nullable=False),  # a Lambda function ARN
    Column("input", Text, nullable=True),  # a JSON text sent instead of the event
    Column("added_at", Float, nullable=False),
    ForeignKeyConstraint(
        ["account_id", "rule_name"],
        ["schedule_rules.account_id", "schedule_rules.name"],
        ondelete="CASCADE",
    ),
)
