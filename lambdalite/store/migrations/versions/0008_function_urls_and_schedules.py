"""Function URLs, their resource-policy statements, and scheduled rules with targets.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _function_key() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id", "function_name"],
        ["functions.account_id", "functions.name"],
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "function_urls",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("url_id", sa.String(40), nullable=False, unique=True),
        sa.Column("auth_type", sa.String(16), nullable=False),
        sa.Column("cors", sa.JSON, nullable=True),
        sa.Column("invoke_mode", sa.String(16), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("last_modified", sa.String(32), nullable=False),
        sa.Column("alias", sa.String(128), nullable=True),
        _function_key(),
        sa.ForeignKeyConstraint(
            ["account_id", "function_name", "alias"],
            ["aliases.account_id", "aliases.function_name", "aliases.name"],
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "function_permissions",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("statement_id", sa.String(100), primary_key=True),
        sa.Column("statement", sa.JSON, nullable=False),
        _function_key(),
    )
    op.create_table(
        "schedule_rules",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("schedule_expression", sa.String(256), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("description", sa.String(512), nullable=True),
        sa.Column("role_arn", sa.String(1600), nullable=True),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("next_due_at", sa.Float, nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
    )
    op.create_index("ix_schedule_rules_due", "schedule_rules", ["next_due_at"])
    op.create_table(
        "schedule_targets",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("rule_name", sa.String(64), primary_key=True),
        sa.Column("target_id", sa.String(64), primary_key=True),
        sa.Column("arn", sa.String(1600), nullable=False),
        sa.Column("input", sa.Text, nullable=True),
        sa.Column("added_at", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id", "rule_name"],
            ["schedule_rules.account_id", "schedule_rules.name"],
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("schedule_targets")
    op.drop_index("ix_schedule_rules_due", table_name="schedule_rules")
    op.drop_table("schedule_rules")
    op.drop_table("function_permissions")
    op.drop_table("function_urls")
