"""The tables, as SQLAlchemy Core objects used by every query.

The Alembic migrations under `migrations/versions/` are the history that creates them;
`tests/unit/test_store_schema.py` checks that a migrated database matches this module.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

# Key/value facts of the installation itself (the secret that signs code download URLs).
platform_facts = Table(
    "platform_facts",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(512), nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column("secret_access_key", String(128), nullable=False),
    Column("account_id", String(12), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
)

functions = Table(
    "functions",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("created_at", Float, nullable=False),
    # The highest version number ever published: AWS never reuses a deleted number.
    Column("last_version", Integer, nullable=False, default=0),
    Column("reserved_concurrency", Integer, nullable=True),
    Column("tags", JSON, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
)

function_versions = Table(
    "function_versions",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("function_name", String(64), primary_key=True),
    Column("version", String(16), primary_key=True),  # "$LATEST", "1", "2", ...
    Column("config", JSON, nullable=False),
    Column("code_sha256", String(64), nullable=False, index=True),  # hex, names the blob
    Column("code_size", BigInteger, nullable=False),
    Column("revision_id", String(36), nullable=False),
    Column("last_modified", String(32), nullable=False),
    ForeignKeyConstraint(
        ["account_id", "function_name"],
        ["functions.account_id", "functions.name"],
        ondelete="CASCADE",
    ),
)

aliases = Table(
    "aliases",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("function_name", String(64), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("function_version", String(16), nullable=False),
    Column("description", String(256), nullable=False),
    Column("routing_weights", JSON, nullable=False),  # {"3": 0.1}
    Column("revision_id", String(36), nullable=False),
    ForeignKeyConstraint(
        ["account_id", "function_name"],
        ["functions.account_id", "functions.name"],
        ondelete="CASCADE",
    ),
)

# Provisioned concurrency of a published version or an alias ("qualifier").
provisioned_concurrency = Table(
    "provisioned_concurrency",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("function_name", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("requested", Integer, nullable=False),
    Column("last_modified", String(32), nullable=False),
    ForeignKeyConstraint(
        ["account_id", "function_name"],
        ["functions.account_id", "functions.name"],
        ondelete="CASCADE",
    ),
)

# Tables of other services share this metadata (one Alembic target); imported last.
from lambdalite.store import (  # noqa: E402,F401
    async_schema,
    bucket_schema,
    layer_schema,
    log_schema,
    mapping_schema,
    queue_schema,
    schedule_schema,
    stream_schema,
    url_schema,
    usage_schema,
)
