"""A function's resource-based policy in the store: AddPermission's statements, per
(function, qualifier); "" keys the unqualified function."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from lambdalite.store.database import Database
from lambdalite.store.url_schema import function_permissions as table


class StatementExists(Exception):
    """The statement id is taken in this policy."""


class PolicyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self, account_id: str, name: str, qualifier: str, sid: str, statement: dict[str, Any]
    ) -> None:
        row = {
            "account_id": account_id,
            "function_name": name,
            "qualifier": qualifier,
            "statement_id": sid,
            "statement": statement,
        }
        try:
            with self._db.write() as conn:
                conn.execute(insert(table).values(**row))
        except IntegrityError:
            raise StatementExists from None

    def statements(self, account_id: str, name: str, qualifier: str) -> list[dict[str, Any]]:
        query = (
            select(table.c.statement)
            .where(
                table.c.account_id == account_id,
                table.c.function_name == name,
                table.c.qualifier == qualifier,
            )
            .order_by(table.c.statement_id)
        )
        with self._db.read() as conn:
            return [dict(row.statement) for row in conn.execute(query).all()]

    def remove(self, account_id: str, name: str, qualifier: str, sid: str) -> bool:
        with self._db.write() as conn:
            result = conn.execute(
                delete(table).where(
                    table.c.account_id == account_id,
                    table.c.function_name == name,
                    table.c.qualifier == qualifier,
                    table.c.statement_id == sid,
                )
            )
        return bool(result.rowcount)
