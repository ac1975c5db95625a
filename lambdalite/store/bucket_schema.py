"""Buckets, the objects already notified, and webhook secrets, on the one `metadata` of
`store/schema.py`.

Created by migration 0010. Times are epoch seconds (Float). Design:
docs/decisions/0503-buckets.md.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKeyConstraint,
    String,
    Table,
)

from lambdalite.store.schema import metadata

buckets = Table(
    "buckets",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name", String(63), primary_key=True),
    Column("kind", String(16), nullable=False),  # "directory" | "external"
    # A directory bucket's absolute path; None for an external (S3-compatible) one.
    Column("path", String(4096), nullable=True),
    Column("created_at", Float, nullable=False),
    # The last S3 `sequencer` handed out: increasing per bucket, so per key too.
    Column("sequence", BigInteger, nullable=False),
    # LambdaFunctionConfigurations, as PutBucketNotificationConfiguration's JSON.
    Column("notifications", JSON, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
)

# What the watcher last notified (or found there when the bucket was created) per key:
# a file whose size and mtime still match is unchanged, across restarts.
bucket_objects = Table(
    "bucket_objects",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("bucket", String(63), primary_key=True),
    Column("key", String(1024), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    # The content's MD5 when it was notified (None: found when the bucket was created, not
    # hashed then): a file whose mtime alone changed (touch, cp -p) triggers nothing.
    Column("etag", String(32), nullable=True),
    ForeignKeyConstraint(
        ["account_id", "bucket"],
        ["buckets.account_id", "buckets.name"],
        ondelete="CASCADE",
    ),
)

# Bearer secrets of the S3 notification webhook; only their SHA-256 is kept.
webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    Column("secret_id", String(32), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("secret_sha256", String(64), nullable=False, unique=True),
    Column("description", String(256), nullable=False),
    Column("created_at", Float, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
)
