"""Usage records: one per invocation, for bills and the cold-start breakdown.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("day", sa.Integer, nullable=False),
        sa.Column("init_ms", sa.Float, nullable=True),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("billed_ms", sa.BigInteger, nullable=False),
        sa.Column("memory_mb", sa.Integer, nullable=False),
        sa.Column("max_memory_used_mb", sa.Integer, nullable=False),
        sa.Column("architecture", sa.String(16), nullable=False),
        sa.Column("ephemeral_storage_mb", sa.Integer, nullable=False),
        sa.Column("cold", sa.Boolean, nullable=False),
        sa.Column("provisioned", sa.Boolean, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error_type", sa.String(128), nullable=True),
        sa.Column("gb_seconds", sa.String(40), nullable=False),
        sa.Column("cost", sa.String(80), nullable=False),
        sa.Column("queued_ms", sa.Float, nullable=True),
        sa.Column("create_ms", sa.Float, nullable=True),
        sa.Column("runtime_ms", sa.Float, nullable=True),
        sa.Column("function_init_ms", sa.Float, nullable=True),
    )
    op.create_index("ix_usage_records_account_time", "usage_records", ["account_id", "started_at"])
    op.create_index("ix_usage_records_time", "usage_records", ["started_at"])
    op.create_index("ix_usage_records_request", "usage_records", ["request_id"])


def downgrade() -> None:
    op.drop_table("usage_records")
