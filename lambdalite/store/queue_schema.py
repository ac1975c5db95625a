"""The queue service's tables, on the one `metadata` of `store/schema.py`.

Created by migration 0002; `tests/unit/test_queue_schema.py` checks a migrated database
matches this module. Times are epoch seconds (Float) from the queue service's clock.
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

queues = Table(
    "queues",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name", String(80), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("last_modified_at", Float, nullable=False),
    # The settable attributes as AWS spells them ({"VisibilityTimeout": "30", ...}).
    Column("attributes", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    # FIFO sequence numbers only grow, per queue ("SequenceNumber", SendMessage).
    Column("last_sequence", BigInteger, nullable=False),
    Column("last_purged_at", Float, nullable=True),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
)

queue_messages = Table(
    "queue_messages",
    metadata,
    # Autoincrement order is send order: FIFO delivery and oldest-first for standard.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("queue_name", String(80), nullable=False),
    Column("message_id", String(36), nullable=False, unique=True),
    Column("body", Text, nullable=False),
    # {"name": {"DataType": ..., "StringValue"|"BinaryValue"(base64): ...}}
    Column("attributes", JSON, nullable=False),
    Column("system_attributes", JSON, nullable=False),
    Column("md5_of_body", String(32), nullable=False),
    Column("md5_of_attributes", String(32), nullable=True),
    Column("sender_id", String(128), nullable=False),
    Column("sent_at", Float, nullable=False),
    # Not deliverable before this time: a delay, or the visibility timeout of a receive.
    Column("visible_at", Float, nullable=False),
    Column("receive_count", Integer, nullable=False),
    Column("first_received_at", Float, nullable=True),
    # The nonce of the latest receive: part of its receipt handle. Null: never received
    # since the message entered this queue (so a later visible_at is a delay).
    Column("receipt_nonce", String(32), nullable=True),
    Column("group_id", String(128), nullable=True),
    Column("deduplication_id", String(128), nullable=True),
    Column("sequence_number", String(20), nullable=True),
    Column("dead_letter_source_arn", String(256), nullable=True),
    ForeignKeyConstraint(
        ["account_id", "queue_name"],
        ["queues.account_id", "queues.name"],
        ondelete="CASCADE",
    ),
    Index("ix_queue_messages_visible", "account_id", "queue_name", "visible_at"),
)

# FIFO deduplication: an id seen in the last 5 minutes is accepted but not enqueued again
# ("Exactly-once processing in Amazon SQS").
queue_deduplication = Table(
    "queue_deduplication",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("queue_name", String(80), primary_key=True),
    Column("deduplication_id", String(128), primary_key=True),
    Column("message_id", String(36), nullable=False),
    Column("sequence_number", String(20), nullable=True),
    Column("expires_at", Float, nullable=False),
    ForeignKeyConstraint(
        ["account_id", "queue_name"],
        ["queues.account_id", "queues.name"],
        ondelete="CASCADE",
    ),
)
