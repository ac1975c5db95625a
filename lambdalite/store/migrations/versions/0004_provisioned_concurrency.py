"""Provisioned concurrency configurations.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provisioned_concurrency",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("requested", sa.Integer, nullable=False),
        sa.Column("last_modified", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id", "function_name"],
            ["functions.account_id", "functions.name"],
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("provisioned_concurrency")
