"""Control plane: accounts, access keys, functions, versions, aliases.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platform_facts",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(512), nullable=False),
    )
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "access_keys",
        sa.Column("access_key_id", sa.String(128), primary_key=True),
        sa.Column("secret_access_key", sa.String(128), nullable=False),
        sa.Column("account_id", sa.String(12), nullable=False, index=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
    )
    op.create_table(
        "functions",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_version", sa.Integer, nullable=False),
        sa.Column("reserved_concurrency", sa.Integer, nullable=True),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
    )
    op.create_table(
        "function_versions",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(16), primary_key=True),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("code_sha256", sa.String(64), nullable=False, index=True),
        sa.Column("code_size", sa.BigInteger, nullable=False),
        sa.Column("revision_id", sa.String(36), nullable=False),
        sa.Column("last_modified", sa.String(32), nullable=False),
        _function_fk(),
    )
    op.create_table(
        "aliases",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("function_version", sa.String(16), nullable=False),
        sa.Column("description", sa.String(256), nullable=False),
        sa.Column("routing_weights", sa.JSON, nullable=False),
        sa.Column("revision_id", sa.String(36), nullable=False),
        _function_fk(),
    )


def _function_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id", "function_name"],
        ["functions.account_id", "functions.name"],
        ondelete="CASCADE",
    )


def downgrade() -> None:
    for table in ("aliases", "function_versions", "functions", "access_keys", "accounts"):
        op.drop_table(table)
    op.drop_table("platform_facts")
