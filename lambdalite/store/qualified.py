"""QualifiedRows: a table of per-qualifier settings of functions, keyed by (account,
function, qualifier) — provisioned concurrency, event invoke configurations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, Table, delete, select

from lambdalite.store.database import Database

KEY = ("account_id", "function_name", "qualifier")


class QualifiedRows:
    def __init__(self, db: Database, table: Table) -> None:
        self._db = db
        self._table = table

    def upsert(self, row: dict[str, Any]) -> None:
        """Insert the row, or replace every other column of the one with its key."""
        statement = (
            self._db.insert(self._table)
            .values(**row)
            .on_conflict_do_update(
                index_elements=list(KEY), set_={k: v for k, v in row.items() if k not in KEY}
            )
        )
        with self._db.write() as conn:
            conn.execute(statement)

    def select(
        self, account_id: str, function_name: str, qualifier: str | None = None
    ) -> list[Row[Any]]:
        """A function's rows (or one qualifier's), in qualifier order."""
        c = self._table.c
        query = select(self._table).where(
            c.account_id == account_id, c.function_name == function_name
        )
        if qualifier is not None:
            query = query.where(c.qualifier == qualifier)
        with self._db.read() as conn:
            return list(conn.execute(query.order_by(c.qualifier)).all())

    def delete(self, account_id: str, function_name: str, qualifier: str) -> bool:
        c = self._table.c
        with self._db.write() as conn:
            result = conn.execute(
                delete(self._table).where(
                    c.account_id == account_id,
                    c.function_name == function_name,
                    c.qualifier == qualifier,
                )
            )
        return bool(result.rowcount)
