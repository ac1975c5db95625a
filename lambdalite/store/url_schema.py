"""Function URLs and the resource-policy statements that govern them, on the one
`metadata` of `store/schema.py`.

Created by migration 0008. Times are AWS's timestamp strings, as the API renders them.
Design: docs/decisions/0501-function-urls.md.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKeyConstraint, String, Table

from lambdalite.store.schema import metadata

# One per (function, qualifier): the unqualified function ("$LATEST") or an alias.
function_urls = Table(
    "function_urls",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("function_name", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    # The <url-id> of the URL; what a request to the URL is routed by.
    Column("url_id", String(40), nullable=False, unique=True),
    Column("auth_type", String(16), nullable=False),  # NONE | AWS_IAM
    Column("cors", JSON, nullable=True),  # the Cors structure as the API took it
    Column("invoke_mode", String(16), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("last_modified", String(32), nullable=False),
    # The alias again (None for $LATEST), so that deleting the alias deletes its URL, as
    # deleting the function does (a NULL never violates the foreign key).
    Column("alias", String(128), nullable=True),
    ForeignKeyConstraint(
        ["account_id", "function_name"],
        ["functions.account_id", "functions.name"],
        ondelete="CASCADE",
    ),
    ForeignKeyConstraint(
        ["account_id", "function_name", "alias"],
        ["aliases.account_id", "aliases.function_name", "aliases.name"],
        ondelete="CASCADE",
    ),
)

# AddPermission's statements, per (function, qualifier): "" is the unqualified function.
function_permissions = Table(
    "function_permissions",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("function_name", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("statement_id", String(100), primary_key=True),
    Column("statement", JSON, nullable=False),  # the IAM policy statement GetPolicy shows
    ForeignKeyConstraint(
        ["account_id", "function_name"],
        ["functions.account_id", "functions.name"],
        ondelete="CASCADE",
    ),
)
