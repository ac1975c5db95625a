"""Logs: groups, streams and events of functions' output.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_groups",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("retention_days", sa.Integer, nullable=True),
    )
    op.create_table(
        "log_streams",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("log_group", sa.String(512), primary_key=True),
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("first_event_at", sa.BigInteger, nullable=True),
        sa.Column("last_event_at", sa.BigInteger, nullable=True),
        sa.Column("last_ingested_at", sa.BigInteger, nullable=True),
        sa.Column("stored_bytes", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "log_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("log_group", sa.String(512), nullable=False),
        sa.Column("log_stream", sa.String(512), nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("ingestion_time", sa.BigInteger, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_log_events_stream", "log_events", ["account_id", "log_group", "log_stream", "id"]
    )
    op.create_index(
        "ix_log_events_group_time", "log_events", ["account_id", "log_group", "timestamp"]
    )


def downgrade() -> None:
    op.drop_table("log_events")
    op.drop_table("log_streams")
    op.drop_table("log_groups")
