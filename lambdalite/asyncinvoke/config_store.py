"""Event invoke configurations in the store, one row per (function, qualifier)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from lambdalite.asyncinvoke.model import EventInvokeConfig
from lambdalite.store.async_schema import event_invoke_configs as table
from lambdalite.store.database import Database
from lambdalite.store.qualified import QualifiedRows


class ConfigStore:
    def __init__(self, db: Database) -> None:
        self._rows = QualifiedRows(db, table)

    def put(self, config: EventInvokeConfig) -> None:
        self._rows.upsert(_row(config))

    def get(self, account_id: str, function_name: str, qualifier: str) -> EventInvokeConfig | None:
        found = self._rows.select(account_id, function_name, qualifier)
        return _config(found[0]) if found else None

    def of_function(self, account_id: str, function_name: str) -> list[EventInvokeConfig]:
        return [_config(row) for row in self._rows.select(account_id, function_name)]

    def delete(self, account_id: str, function_name: str, qualifier: str) -> bool:
        return self._rows.delete(account_id, function_name, qualifier)


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
