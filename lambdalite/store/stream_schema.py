"""Registered Redis streams (a Kinesis-style stream name -> a Redis server and stream key),
on the one `metadata` of `store/schema.py`.

Created by migration 0010. Design: docs/decisions/0504-redis-streams.md.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKeyConstraint, String, Table

from lambdalite.store.schema import metadata

redis_streams = Table(
    "redis_streams",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name", String(128), primary_key=True),
    # redis://[user:password@]host:port/db or rediss://...; the password stays here.
    Column("url", String(1024), nullable=False),
    Column("stream_key", String(512), nullable=False),
    Column("created_at", Float, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
)
