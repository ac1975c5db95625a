"""Event invoke configurations in the store, one row per (function, qualifier)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, select

from lambdalite.asyncinvoke.model import EventInvokeConfig
from lambdalite.store.async_schema import event_invoke_configs as table
from lambdalite.store.database import Database


class ConfigStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def put(self, config: EventInvokeConfig) -> None:
        row = _row(config)
        key = ("account_id", "function_name", "qualifier")
        statement = (
            self._db.insert(table)
            .values(**row)
            .on_conflict_do_update(
                index_elements=list(key),
                set_={k: v for k, v in row.items() if k not in key},
            )
        )
        with self._db.write() as conn:
            conn.execute(statement)

    def get(self, account_id: str, function_name: str, qualifier: str) -> EventInvokeConfig | None:
        found = self._select(account_id, function_name, qualifier)
        return found[0] if found else None

    def of_function(self, account_id: str, function_name: str) -> list[EventInvokeConfig]:
        return self._select(account_id, function_name)

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
    ) -> list[EventInvokeConfig]:
        query = select(table).where(
            table.c.account_id == account_id, table.c.function_name == function_name
        )
        if qualifier is not None:
            query = query.where(table.c.qualifier == qualifier)
        with self._db.read() as conn:
            rows = conn.execute(query.order_by(table.c.qualifier)).all()
        return [_config(row) for row in rows]


def _row(config: EventInvokeConfig) -> dict[str, Any]:
    return {
        "account_id": config.account_id,
        "function_name": config.function_name,
        "qualifier": config.qualifier,
        "maximum_retry_attempts": config.maximum_retry_attempts,
        "maximum_event_age_seconds": config.maximum_event_age_seconds,
        "on_success": config.on_success,
        "on_failure": config.on_failure,
        "last_modified": config.last_modified,
    }


def _config(row: Row[Any]) -> EventInvokeConfig:
    return EventInvokeConfig(
        row.account_id,
        row.function_name,
        row.qualifier,
        row.maximum_retry_attempts,
        row.maximum_event_age_seconds,
        row.on_success,
        row.on_failure,
        row.last_modified,
    )
