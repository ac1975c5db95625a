"""Functions, their versions, tags and reserved concurrency.

Every method is one transaction. Optimistic concurrency uses the RevisionId: an update
of $LATEST names the revision it read, and loses (returns False) if another one won.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from lambdalite.model import LATEST, Code, Function, FunctionConfig, FunctionVersion
from lambdalite.store.database import Database
from lambdalite.store.schema import aliases, function_versions, functions


class FunctionExists(Exception):
    pass


class FunctionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- functions ------------------------------------------------------------------
    def create(self, latest: FunctionVersion, tags: dict[str, str]) -> None:
        try:
            with self._db.write() as conn:
                conn.execute(
                    insert(functions).values(
                        account_id=latest.account_id,
                        name=latest.function_name,
                        created_at=time.time(),
                        last_version=0,
                        reserved_concurrency=None,
                        tags=tags,
                    )
                )
                conn.execute(insert(function_versions).values(**_version_row(latest)))
        except IntegrityError as exc:
            raise FunctionExists(latest.function_name) from exc

    def get(self, account_id: str, name: str) -> Function | None:
        with self._db.read() as conn:
            row = conn.execute(select(functions).where(*_fn_key(account_id, name))).first()
        return _function(row) if row else None

    def delete(self, account_id: str, name: str) -> list[str]:
        """Delete a function and everything under it; returns the code it referenced."""
        with self._db.write() as conn:
            shas = _code_of(conn, account_id, name)
            conn.execute(delete(aliases).where(*_alias_fn_key(account_id, name)))
            conn.execute(delete(function_versions).where(*_ver_fn_key(account_id, name)))
            conn.execute(delete(functions).where(*_fn_key(account_id, name)))
        return shas

    def set_tags(self, account_id: str, name: str, tags: dict[str, str]) -> bool:
        with self._db.write() as conn:
            result = conn.execute(
                update(functions).where(*_fn_key(account_id, name)).values(tags=tags)
            )
        return bool(result.rowcount)

    def set_reserved_concurrency(self, account_id: str, name: str, value: int | None) -> bool:
        with self._db.write() as conn:
            result = conn.execute(
                update(functions)
                .where(*_fn_key(account_id, name))
                .values(reserved_concurrency=value)
            )
        return bool(result.rowcount)

    def reserved_concurrency_total(self, account_id: str, excluding: str | None = None) -> int:
        query = select(func.coalesce(func.sum(functions.c.reserved_concurrency), 0)).where(
            functions.c.account_id == account_id
        )
        if excluding:
            query = query.where(functions.c.name != excluding)
        with self._db.read() as conn:
            return int(conn.execute(query).scalar_one())

    def usage(self, account_id: str) -> tuple[int, int]:
        """(number of functions, total code size of all versions) of an account."""
        with self._db.read() as conn:
            count = conn.execute(
                select(func.count())
                .select_from(functions)
                .where(functions.c.account_id == account_id)
            ).scalar_one()
            size = conn.execute(
                select(func.coalesce(func.sum(function_versions.c.code_size), 0)).where(
                    function_versions.c.account_id == account_id
                )
            ).scalar_one()
        return int(count), int(size)

    # -- versions -------------------------------------------------------------------
    def version(self, account_id: str, name: str, version: str) -> FunctionVersion | None:
        with self._db.read() as conn:
            row = conn.execute(
                select(function_versions).where(
                    *_ver_fn_key(account_id, name), function_versions.c.version == version
                )
            ).first()
        return _version(row) if row else None

    def versions(self, account_id: str, name: str) -> list[FunctionVersion]:
        """$LATEST first, then published versions in numeric order (as AWS lists them)."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(function_versions).where(*_ver_fn_key(account_id, name))
            ).all()
        return sorted((_version(r) for r in rows), key=_version_order)

    def latest_versions(
        self, account_id: str, after: str | None, limit: int
    ) -> list[FunctionVersion]:
        """A page of $LATEST versions, by function name, after the name `after`."""
        query = select(function_versions).where(
            function_versions.c.account_id == account_id, function_versions.c.version == LATEST
        )
        if after is not None:
            query = query.where(function_versions.c.function_name > after)
        query = query.order_by(function_versions.c.function_name).limit(limit)
        with self._db.read() as conn:
            return [_version(r) for r in conn.execute(query).all()]

    def all_versions(self, account_id: str) -> list[FunctionVersion]:
        """Every version of every function of an account, by name then version order."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(function_versions).where(function_versions.c.account_id == account_id)
            ).all()
        return sorted(
            (_version(r) for r in rows), key=lambda v: (v.function_name, *_version_order(v))
        )

    def update_latest(self, updated: FunctionVersion, expected_revision: str) -> bool:
        """Replace $LATEST if its revision is still `expected_revision`."""
        with self._db.write() as conn:
            result = conn.execute(
                update(function_versions)
                .where(
                    *_ver_fn_key(updated.account_id, updated.function_name),
                    function_versions.c.version == LATEST,
                    function_versions.c.revision_id == expected_revision,
                )
                .values(**_version_row(updated))
            )
        return bool(result.rowcount)

    def publish(self, latest: FunctionVersion, make: Any) -> tuple[FunctionVersion, bool]:
        """Publish $LATEST as the next version, unless the newest version already equals it.

        `make(number)` builds the new FunctionVersion. Returns (version, created). The
        read of the newest version and the insert share one write transaction, so two
        concurrent publishes cannot both create a version of the same code.
        """
        account_id, name = latest.account_id, latest.function_name
        with self._db.write() as conn:
            # FOR UPDATE: on PostgreSQL two publishes would otherwise read the same
            # last_version and collide on the insert (SQLite's BEGIN IMMEDIATE already
            # serialises writers and ignores the clause).
            row = conn.execute(
                select(functions).where(*_fn_key(account_id, name)).with_for_update()
            ).one()
            if row.last_version:
                newest = conn.execute(
                    select(function_versions).where(
                        *_ver_fn_key(account_id, name),
                        function_versions.c.version == str(row.last_version),
                    )
                ).first()
                if newest is not None:
                    previous = _version(newest)
                    # PublishVersion's Description belongs to the version alone: equal code
                    # and configuration besides it mean "no change since the last version".
                    same_config = (
                        previous.config.updated(description=latest.config.description)
                        == latest.config
                    )
                    if previous.code == latest.code and same_config:
                        return previous, False
            number = int(row.last_version) + 1
            created: FunctionVersion = make(number)
            conn.execute(
                update(functions).where(*_fn_key(account_id, name)).values(last_version=number)
            )
            conn.execute(insert(function_versions).values(**_version_row(created)))
        return created, True

    def delete_version(self, account_id: str, name: str, version: str) -> list[str]:
        """Delete one published version; returns the aliases that still point at it
        (and deletes nothing) if there are any."""
        with self._db.write() as conn:
            lock_function(conn, account_id, name)
            users = conn.execute(
                select(aliases.c.name, aliases.c.routing_weights)
                .where(*_alias_fn_key(account_id, name))
                .where(aliases.c.function_version == version)
            ).all()
            weighted = conn.execute(
                select(aliases.c.name, aliases.c.routing_weights).where(
                    *_alias_fn_key(account_id, name)
                )
            ).all()
            blocking = [r.name for r in users] + [
                r.name for r in weighted if version in (r.routing_weights or {})
            ]
            if blocking:
                return sorted(set(blocking))
            conn.execute(
                delete(function_versions).where(
                    *_ver_fn_key(account_id, name), function_versions.c.version == version
                )
            )
        return []

    def code_references(self, sha256: str) -> int:
        with self._db.read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(function_versions)
                    .where(function_versions.c.code_sha256 == sha256)
                ).scalar_one()
            )


def _fn_key(account_id: str, name: str) -> tuple[Any, ...]:
    return (functions.c.account_id == account_id, functions.c.name == name)


def _ver_fn_key(account_id: str, name: str) -> tuple[Any, ...]:
    return (
        function_versions.c.account_id == account_id,
        function_versions.c.function_name == name,
    )


def _alias_fn_key(account_id: str, name: str) -> tuple[Any, ...]:
    return (aliases.c.account_id == account_id, aliases.c.function_name == name)


def lock_function(conn: Connection, account_id: str, name: str) -> None:
    """Serialise writers of one function's versions and aliases (a row lock on PostgreSQL)."""
    conn.execute(select(functions.c.name).where(*_fn_key(account_id, name)).with_for_update())


def _code_of(conn: Connection, account_id: str, name: str) -> list[str]:
    rows = conn.execute(
        select(function_versions.c.code_sha256).where(*_ver_fn_key(account_id, name)).distinct()
    ).scalars()
    return list(rows)


def _version_order(version: FunctionVersion) -> tuple[int, int]:
    return (0, 0) if version.is_latest else (1, int(version.version))


def _version_row(v: FunctionVersion) -> dict[str, Any]:
    return {
        "account_id": v.account_id,
        "function_name": v.function_name,
        "version": v.version,
        "config": v.config.to_store(),
        "code_sha256": v.code.sha256,
        "code_size": v.code.size,
        "revision_id": v.revision_id,
        "last_modified": v.last_modified,
    }


def _version(row: Row[Any]) -> FunctionVersion:
    return FunctionVersion(
        account_id=row.account_id,
        function_name=row.function_name,
        version=row.version,
        config=FunctionConfig.from_store(row.config),
        code=Code(sha256=row.code_sha256, size=row.code_size),
        revision_id=row.revision_id,
        last_modified=row.last_modified,
    )


def _function(row: Row[Any]) -> Function:
    return Function(
        account_id=row.account_id,
        name=row.name,
        last_version=row.last_version,
        reserved_concurrency=row.reserved_concurrency,
        tags=dict(row.tags or {}),
    )
