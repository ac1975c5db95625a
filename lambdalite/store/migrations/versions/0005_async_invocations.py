"""Async invocations (Event invokes, event invoke configs, destinations).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "async_events",
        sa.Column("request_id", sa.String(36), primary_key=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("qualifier", sa.String(128), nullable=True),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("enqueued_at", sa.Float, nullable=False),
        sa.Column("due_at", sa.Float, nullable=False),
        sa.Column("owner", sa.String(32), nullable=True),
        sa.Column("invoke_count", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("response", sa.JSON, nullable=True),
        sa.Column("condition", sa.String(24), nullable=True),
        sa.Column("delivery", sa.JSON, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
    )
    op.create_index("ix_async_events_due", "async_events", ["due_at"])
    op.create_table(
        "event_invoke_configs",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("maximum_retry_attempts", sa.Integer, nullable=True),
        sa.Column("maximum_event_age_seconds", sa.Integer, nullable=True),
        sa.Column("on_success", sa.String(350), nullable=True),
        sa.Column("on_failure", sa.String(350), nullable=True),
        sa.Column("last_modified", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id", "function_name"],
            ["functions.account_id", "functions.name"],
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("event_invoke_configs")
    op.drop_index("ix_async_events_due", table_name="async_events")
    op.drop_table("async_events")
