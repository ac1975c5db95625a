"""Function URL configurations in the store: one per (function, qualifier), found by
either that key or the URL's id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from lambdalite.store.database import Database
from lambdalite.store.url_schema import function_urls as table
from lambdalite.urls.model import AuthType, Cors, FunctionUrlConfig


class UrlExists(Exception):
    """The function (and qualifier) has a URL already."""


class UrlStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, config: FunctionUrlConfig) -> None:
        """Raises UrlExists when (function, qualifier) has one: the primary key decides,
        so two concurrent creates cannot both succeed."""
        try:
            with self._db.write() as conn:
                conn.execute(insert(table).values(**_row(config)))
        except IntegrityError:
            raise UrlExists from None

    def get(self, account_id: str, function_name: str, qualifier: str) -> FunctionUrlConfig | None:
        query = select(table).where(
            table.c.account_id == account_id,
            table.c.function_name == function_name,
            table.c.qualifier == qualifier,
        )
        with self._db.read() as conn:
            row = conn.execute(query).first()
        return _config(row) if row is not None else None

    def by_url_id(self, url_id: str) -> FunctionUrlConfig | None:
        with self._db.read() as conn:
            row = conn.execute(select(table).where(table.c.url_id == url_id)).first()
        return _config(row) if row is not None else None

    def of_function(self, account_id: str, function_name: str) -> list[FunctionUrlConfig]:
        query = (
            select(table)
            .where(table.c.account_id == account_id, table.c.function_name == function_name)
            .order_by(table.c.qualifier)
        )
        with self._db.read() as conn:
            return [_config(row) for row in conn.execute(query).all()]

    def replace(self, config: FunctionUrlConfig) -> bool:
        values = _row(config)
        for key in ("account_id", "function_name", "qualifier", "url_id", "created_at", "alias"):
            del values[key]
        with self._db.write() as conn:
            result = conn.execute(
                update(table)
                .where(
                    table.c.account_id == config.account_id,
                    table.c.function_name == config.function_name,
                    table.c.qualifier == config.qualifier,
                )
                .values(**values)
            )
        return bool(result.rowcount)

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


def _row(config: FunctionUrlConfig) -> dict[str, Any]:
    return {
        "account_id": config.account_id,
        "function_name": config.function_name,
        "qualifier": config.qualifier,
        "url_id": config.url_id,
        "auth_type": config.auth_type.value,
        "cors": config.cors.to_api() if config.cors is not None else None,
        "invoke_mode": config.invoke_mode,
        "created_at": config.created_at,
        "last_modified": config.last_modified,
        "alias": config.invoked_qualifier,
    }


def _config(row: Row[Any]) -> FunctionUrlConfig:
    return FunctionUrlConfig(
        account_id=row.account_id,
        function_name=row.function_name,
        qualifier=row.qualifier,
        url_id=row.url_id,
        auth_type=AuthType(row.auth_type),
        cors=Cors.from_api(row.cors) if row.cors is not None else None,
        invoke_mode=row.invoke_mode,
        created_at=row.created_at,
        last_modified=row.last_modified,
    )
