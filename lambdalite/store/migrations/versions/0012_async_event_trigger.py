"""Async events remember what enqueued them (event, schedule, bucket) for usage records.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("async_events") as batch:
        batch.add_column(
            sa.Column("trigger", sa.String(16), nullable=False, server_default="event")
        )


def downgrade() -> None:
    with op.batch_alter_table("async_events") as batch:
        batch.drop_column("trigger")
