"""Event source mappings; and queue tombstones (a deleted queue's name stays taken for
60 seconds, "DeleteQueue").

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_source_mappings",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("qualifier", sa.String(128), nullable=False),
        sa.Column("source_kind", sa.String(16), nullable=False),
        sa.Column("source_arn", sa.String(1024), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_reason", sa.String(64), nullable=False),
        sa.Column("last_modified", sa.Float, nullable=False),
        sa.Column("batch_size", sa.Integer, nullable=False),
        sa.Column("batching_window", sa.Integer, nullable=False),
        sa.Column("function_response_types", sa.JSON, nullable=False),
        sa.Column("maximum_concurrency", sa.Integer, nullable=True),
        sa.Column("filter_patterns", sa.JSON, nullable=False),
        sa.Column("source_settings", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
        sa.UniqueConstraint(
            "account_id",
            "source_arn",
            "function_name",
            "qualifier",
            name="uq_event_source_mappings_source_function",
        ),
    )
    op.create_table(
        "queue_tombstones",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("deleted_at", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("queue_tombstones")
    op.drop_table("event_source_mappings")
