"""Provisioned concurrency configurations, one per (function, qualifier)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select

from lambdalite.store.database import Database
from lambdalite.store.qualified import QualifiedRows
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
        self._rows = QualifiedRows(db, table)

    def put(self, config: ProvisionedConfig) -> None:
        self._rows.upsert(
            {
                "account_id": config.account_id,
                "function_name": config.function_name,
                "qualifier": config.qualifier,
                "requested": config.requested,
                "last_modified": config.last_modified,
            }
        )

    def get(self, account_id: str, function_name: str, qualifier: str) -> ProvisionedConfig | None:
        found = self._rows.select(account_id, function_name, qualifier)
        return _config(found[0]) if found else None

    def of_function(self, account_id: str, function_name: str) -> list[ProvisionedConfig]:
        return [_config(row) for row in self._rows.select(account_id, function_name)]

    def all(self) -> list[ProvisionedConfig]:
        with self._db.read() as conn:
            rows = conn.execute(select(table)).all()
        return [_config(row) for row in rows]

    def delete(self, account_id: str, function_name: str, qualifier: str) -> bool:
        return self._rows.delete(account_id, function_name, qualifier)


def _config(row: Row[Any]) -> ProvisionedConfig:
    return ProvisionedConfig(
        row.account_id, row.function_name, row.qualifier, row.requested, row.last_modified
    )
