"""Buckets, notified objects, webhook secrets and registered Redis streams.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _account_key() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "buckets",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("path", sa.String(4096), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("notifications", sa.JSON, nullable=False),
        _account_key(),
    )
    op.create_table(
        "bucket_objects",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("bucket", sa.String(63), primary_key=True),
        sa.Column("key", sa.String(1024), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("etag", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id", "bucket"],
            ["buckets.account_id", "buckets.name"],
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "webhook_secrets",
        sa.Column("secret_id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("description", sa.String(256), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        _account_key(),
    )
    op.create_index("ix_webhook_secrets_account_id", "webhook_secrets", ["account_id"])
    op.create_table(
        "redis_streams",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("url", sa.String(1024), nullable=False),
        sa.Column("stream_key", sa.String(512), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        _account_key(),
    )


def downgrade() -> None:
    op.drop_table("redis_streams")
    op.drop_index("ix_webhook_secrets_account_id", table_name="webhook_secrets")
    op.drop_table("webhook_secrets")
    op.drop_table("bucket_objects")
    op.drop_table("buckets")
