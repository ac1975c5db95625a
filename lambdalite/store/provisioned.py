"""Provisioned concurrency configurations, one per (function, qualifier)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from lambdalite.store.database import Database
from lambdalite.store.schema import provisioned_concurrency as table


@dataclass(frozen=True)
class ProvisionedConfig:
    account_id: str
    function_name: str
    qualifier: str
    requested: int
    last_modified: str


class ProvisionedStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def put(self, config: ProvisionedConfig) -> None:
        row = {
            "account_id": config.account_id,
            "function_name": config.function_name,
            "qualifier": config.qualifier,
            "requested": config.requested,
            "last_modified": config.last_modified,
        }
        statement = self._db.insert(table).values(**row)
        statement = statement.on_conflict_do_update(
            index_elements=["account_id", "function_name", "qualifier"],
            set_={"requested": config.requested, "last_modified": config.last_modified},
        )
        with self._db.write() as conn:
            conn.execute(statement)

    def get(self, account_id: str, function_name: str, qualifier: str) -> ProvisionedConfig | None:
        found = self._select(account_id, function_name, qualifier)
        return found[0] if found else None

    def of_function(self, account_id: str, function_name: str) -> list[ProvisionedConfig]:
        return self._select(account_id, function_name)

    def all(self) -> list[ProvisionedConfig]:
        with self._db.read() as conn:
            rows = conn.execute(select(table)).all()
        return [ProvisionedConfig(*row) for row in rows]

    def delete(self, account_id: str, function_name: str, qualifier: str) -> bool:
        with self._db.write() as conn:
            result = conn.execute(
                delete(table).where(
                    table.c.account_id == account_id,
                    table.c.function_name == function_name,
                    table.c.qualifier == qualifier,
                )
            )
        return bool(result.rowcount)

    def _select(
        self, account_id: str, function_name: str, qualifier: str | None = None
    ) -> list[ProvisionedConfig]:
        query = select(table).where(
            table.c.account_id == account_id, table.c.function_name == function_name
        )
        if qualifier is not None:
            query = query.where(table.c.qualifier == qualifier)
        with self._db.read() as conn:
            rows = conn.execute(query.order_by(table.c.qualifier)).all()
        return [ProvisionedConfig(*row) for row in rows]
