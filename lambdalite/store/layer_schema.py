"""Layers, dependency builds and the update state of functions, on the one `metadata`.

Created by migration 0011. Design: docs/decisions/0701-dependency-layers.md.

- `layer_names` / `layer_versions` / `layer_version_permissions`: PublishLayerVersion's
  resources. A layer version's content is a zip stored by digest (`code_sha256`); a
  function version using it names that digest in its configuration, so deleting the
  layer version keeps the content for those functions, as AWS does.
- `dependency_builds`: one per (account, requirement set, interpreter, platform) — what a
  function's requirements.txt asks for — with its state, pip's log and its result.
- `dependency_layers`: what builds produced, one per (account, resolved set, interpreter,
  platform): a read-only tree under the data dir, shared by every build resolving to it.
- `function_updates`: a code update of $LATEST whose build is not done (the version it
  replaced keeps serving until it is), or the reason the last one failed.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from lambdalite.store.schema import metadata

layer_names = Table(
    "layer_names",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("layer_name", String(140), primary_key=True),
    # The highest version ever published: AWS never reuses a deleted version's number.
    Column("last_version", Integer, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
)

layer_versions = Table(
    "layer_versions",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("layer_name", String(140), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("description", String(256), nullable=False),
    Column("compatible_runtimes", JSON, nullable=False),
    Column("compatible_architectures", JSON, nullable=False),
    Column("license_info", String(512), nullable=True),
    Column("code_sha256", String(64), nullable=False, index=True),  # hex: names the zip
    Column("code_size", BigInteger, nullable=False),
    Column("unzipped_size", BigInteger, nullable=False),
    Column("created_date", String(32), nullable=False),
    Column("policy_revision", String(36), nullable=True),
    ForeignKeyConstraint(
        ["account_id", "layer_name"],
        ["layer_names.account_id", "layer_names.layer_name"],
        ondelete="CASCADE",
    ),
)

layer_version_permissions = Table(
    "layer_version_permissions",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("layer_name", String(140), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("statement_id", String(100), primary_key=True),
    Column("principal", String(64), nullable=False),  # an account id or "*"
    Column("organization_id", String(34), nullable=True),
    ForeignKeyConstraint(
        ["account_id", "layer_name", "version"],
        ["layer_versions.account_id", "layer_versions.layer_name", "layer_versions.version"],
        ondelete="CASCADE",
    ),
)

dependency_builds = Table(
    "dependency_builds",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("build_key", String(64), primary_key=True),
    Column("requirements", Text, nullable=False),  # normalised, one per line
    Column("source", String(32), nullable=False),  # requirements.txt | pyproject.toml
    Column("python", String(16), nullable=False),
    Column("platform", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # pending | building | ready | failed
    Column("layer_digest", String(64), nullable=True),
    Column("layer_size", BigInteger, nullable=True),
    Column("reason", Text, nullable=True),
    Column("log", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    # The server building it, until `lease_until` (renewed while it builds).
    Column("claimed_by", String(32), nullable=True),
    Column("lease_until", Float, nullable=True),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
    Index("ix_dependency_builds_status", "status"),
)

dependency_layers = Table(
    "dependency_layers",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("resolved", JSON, nullable=False),  # ["name==version", ...], sorted
    Column("python", String(16), nullable=False),
    Column("platform", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("files", Integer, nullable=False),
    # Top-level modules worth importing ahead of demand, slowest first, and their
    # measured import times in ms.
    Column("preimport", JSON, nullable=False),
    Column("import_ms", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
)

function_updates = Table(
    "function_updates",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("function_name", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # InProgress | Failed
    # The $LATEST revision the update wrote; a row for another revision is stale.
    Column("revision_id", String(36), nullable=False),
    # While InProgress: the $LATEST it replaced, which serves until the build is done.
    Column("previous", JSON, nullable=True),
    Column("previous_code_sha256", String(64), nullable=True, index=True),
    Column("build_key", String(64), nullable=True),  # the build it waits for
    Column("reason", Text, nullable=True),
    Column("reason_code", String(64), nullable=True),
    Column("started_at", Float, nullable=False),
    ForeignKeyConstraint(
        ["account_id", "function_name"],
        ["functions.account_id", "functions.name"],
        ondelete="CASCADE",
    ),
)
