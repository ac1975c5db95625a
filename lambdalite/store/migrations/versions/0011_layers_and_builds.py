"""Layers, dependency builds and dependency layers, and functions' code updates.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _account_key() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "layer_names",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("layer_name", sa.String(140), primary_key=True),
        sa.Column("last_version", sa.Integer, nullable=False),
        _account_key(),
    )
    op.create_table(
        "layer_versions",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("layer_name", sa.String(140), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("description", sa.String(256), nullable=False),
        sa.Column("compatible_runtimes", sa.JSON, nullable=False),
        sa.Column("compatible_architectures", sa.JSON, nullable=False),
        sa.Column("license_info", sa.String(512), nullable=True),
        sa.Column("code_sha256", sa.String(64), nullable=False),
        sa.Column("code_size", sa.BigInteger, nullable=False),
        sa.Column("unzipped_size", sa.BigInteger, nullable=False),
        sa.Column("created_date", sa.String(32), nullable=False),
        sa.Column("policy_revision", sa.String(36), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id", "layer_name"],
            ["layer_names.account_id", "layer_names.layer_name"],
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_layer_versions_code_sha256", "layer_versions", ["code_sha256"])
    op.create_table(
        "layer_version_permissions",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("layer_name", sa.String(140), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("statement_id", sa.String(100), primary_key=True),
        sa.Column("principal", sa.String(64), nullable=False),
        sa.Column("organization_id", sa.String(34), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id", "layer_name", "version"],
            ["layer_versions.account_id", "layer_versions.layer_name", "layer_versions.version"],
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "dependency_builds",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("build_key", sa.String(64), primary_key=True),
        sa.Column("requirements", sa.Text, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("python", sa.String(16), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("layer_digest", sa.String(64), nullable=True),
        sa.Column("layer_size", sa.BigInteger, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("log", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("claimed_by", sa.String(32), nullable=True),
        sa.Column("lease_until", sa.Float, nullable=True),
        _account_key(),
    )
    op.create_index("ix_dependency_builds_status", "dependency_builds", ["status"])
    op.create_table(
        "dependency_layers",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("resolved", sa.JSON, nullable=False),
        sa.Column("python", sa.String(16), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("files", sa.Integer, nullable=False),
        sa.Column("preimport", sa.JSON, nullable=False),
        sa.Column("import_ms", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        _account_key(),
    )
    op.create_table(
        "function_updates",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("revision_id", sa.String(36), nullable=False),
        sa.Column("previous", sa.JSON, nullable=True),
        sa.Column("previous_code_sha256", sa.String(64), nullable=True),
        sa.Column("build_key", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("reason_code", sa.String(64), nullable=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id", "function_name"],
            ["functions.account_id", "functions.name"],
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_function_updates_previous_code_sha256", "function_updates", ["previous_code_sha256"]
    )


def downgrade() -> None:
    op.drop_table("function_updates")
    op.drop_table("dependency_layers")
    op.drop_table("dependency_builds")
    op.drop_table("layer_version_permissions")
    op.drop_table("layer_versions")
    op.drop_table("layer_names")
