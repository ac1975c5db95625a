"""Queues: the SQS-compatible queue service's queues, messages and deduplication ids.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queues",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_modified_at", sa.Float, nullable=False),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("last_sequence", sa.BigInteger, nullable=False),
        sa.Column("last_purged_at", sa.Float, nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
    )
    op.create_table(
        "queue_messages",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("queue_name", sa.String(80), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False, unique=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("system_attributes", sa.JSON, nullable=False),
        sa.Column("md5_of_body", sa.String(32), nullable=False),
        sa.Column("md5_of_attributes", sa.String(32), nullable=True),
        sa.Column("sender_id", sa.String(128), nullable=False),
        sa.Column("sent_at", sa.Float, nullable=False),
        sa.Column("visible_at", sa.Float, nullable=False),
        sa.Column("receive_count", sa.Integer, nullable=False),
        sa.Column("first_received_at", sa.Float, nullable=True),
        sa.Column("receipt_nonce", sa.String(32), nullable=True),
        sa.Column("group_id", sa.String(128), nullable=True),
        sa.Column("deduplication_id", sa.String(128), nullable=True),
        sa.Column("sequence_number", sa.String(20), nullable=True),
        sa.Column("dead_letter_source_arn", sa.String(256), nullable=True),
        _queue_fk(),
    )
    op.create_index(
        "ix_queue_messages_visible",
        "queue_messages",
        ["account_id", "queue_name", "visible_at"],
    )
    op.create_table(
        "queue_deduplication",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("queue_name", sa.String(80), primary_key=True),
        sa.Column("deduplication_id", sa.String(128), primary_key=True),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("sequence_number", sa.String(20), nullable=True),
        sa.Column("expires_at", sa.Float, nullable=False),
        _queue_fk(),
    )


def _queue_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id", "queue_name"],
        ["queues.account_id", "queues.name"],
        ondelete="CASCADE",
    )


def downgrade() -> None:
    op.drop_table("queue_deduplication")
    op.drop_index("ix_queue_messages_visible", table_name="queue_messages")
    op.drop_table("queue_messages")
    op.drop_table("queues")
