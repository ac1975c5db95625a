"""Aliases: named, optionally weighted pointers to a function's versions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from lambdalite.model import Alias
from lambdalite.store.database import Database
from lambdalite.store.functions import lock_function
from lambdalite.store.schema import aliases


class AliasExists(Exception):
    pass


class AliasStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, alias: Alias) -> None:
        try:
            with self._db.write() as conn:
                lock_function(conn, alias.account_id, alias.function_name)
                conn.execute(insert(aliases).values(**_row(alias)))
        except IntegrityError as exc:
            raise AliasExists(alias.name) from exc

    def get(self, account_id: str, function_name: str, name: str) -> Alias | None:
        with self._db.read() as conn:
            row = conn.execute(
                select(aliases).where(*_key(account_id, function_name), aliases.c.name == name)
            ).first()
        return _alias(row) if row else None

    def list(self, account_id: str, function_name: str) -> list[Alias]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(aliases).where(*_key(account_id, function_name)).order_by(aliases.c.name)
            ).all()
        return [_alias(r) for r in rows]

    def replace(self, alias: Alias, expected_revision: str) -> bool:
        """Store `alias` if the stored one still has `expected_revision`."""
        with self._db.write() as conn:
            lock_function(conn, alias.account_id, alias.function_name)
            result = conn.execute(
                update(aliases)
                .where(
                    *_key(alias.account_id, alias.function_name),
                    aliases.c.name == alias.name,
                    aliases.c.revision_id == expected_revision,
                )
                .values(**_row(alias))
            )
        return bool(result.rowcount)

    def delete(self, account_id: str, function_name: str, name: str) -> None:
        with self._db.write() as conn:
            conn.execute(
                delete(aliases).where(*_key(account_id, function_name), aliases.c.name == name)
            )


def _key(account_id: str, function_name: str) -> tuple[Any, ...]:
    return (aliases.c.account_id == account_id, aliases.c.function_name == function_name)


def _row(alias: Alias) -> dict[str, Any]:
    return {
        "account_id": alias.account_id,
        "function_name": alias.function_name,
        "name": alias.name,
        "function_version": alias.function_version,
        "description": alias.description,
        "routing_weights": alias.routing_weights,
        "revision_id": alias.revision_id,
    }


def _alias(row: Row[Any]) -> Alias:
    return Alias(
        account_id=row.account_id,
        function_name=row.function_name,
        name=row.name,
        function_version=row.function_version,
        description=row.description,
        routing_weights={k: float(v) for k, v in (row.routing_weights or {}).items()},
        revision_id=row.revision_id,
    )
