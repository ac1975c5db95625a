"""Code updates of $LATEST that wait for a dependency build, and failed ones' reasons.

While an update is in progress, its row holds the $LATEST it replaced, which keeps
serving invocations ("LastUpdateStatus InProgress": AWS's "invocations go to the
function's previous code and configuration"). When the build fails, that version is put
back and the row keeps only the reason ("Failed": "Lambda aborts the update and the
function's previous code and configuration remain available").
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Row, delete, func, select, update

from lambdalite.layers.model import FunctionUpdate, UpdateStatus
from lambdalite.model import Code, FunctionConfig, FunctionVersion
from lambdalite.store.database import Database
from lambdalite.store.layer_schema import function_updates


class UpdateStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, account_id: str, name: str) -> FunctionUpdate | None:
        with self._db.read() as conn:
            row = conn.execute(select(function_updates).where(*_key(account_id, name))).first()
        return _update(row) if row else None

    def get_many(self, account_id: str, names: set[str]) -> dict[str, FunctionUpdate]:
        if not names:
            return {}
        with self._db.read() as conn:
            rows = conn.execute(
                select(function_updates).where(
                    function_updates.c.account_id == account_id,
                    function_updates.c.function_name.in_(sorted(names)),
                )
            ).all()
        return {r.function_name: _update(r) for r in rows}

    def begin(
        self, previous: FunctionVersion, revision_id: str, build_key: str, now: float | None = None
    ) -> None:
        """$LATEST is about to become `revision_id`, whose build is not done: remember the
        version it replaces (which serves meanwhile)."""
        values = {
            "status": UpdateStatus.IN_PROGRESS,
            "revision_id": revision_id,
            "previous": _version_document(previous),
            "previous_code_sha256": previous.code.sha256,
            "build_key": build_key,
            "reason": None,
            "reason_code": None,
            "started_at": time.time() if now is None else now,
        }
        insert = self._db.insert(function_updates).values(
            account_id=previous.account_id, function_name=previous.function_name, **values
        )
        with self._db.write() as conn:
            conn.execute(
                insert.on_conflict_do_update(
                    index_elements=["account_id", "function_name"], set_=values
                )
            )

    def fail(
        self, account_id: str, name: str, revision_id: str, reason: str, reason_code: str
    ) -> None:
        """The update failed: keep why, and (with `revision_id` the restored $LATEST's)."""
        with self._db.write() as conn:
            conn.execute(
                update(function_updates)
                .where(*_key(account_id, name))
                .values(
                    status=UpdateStatus.FAILED,
                    revision_id=revision_id,
                    previous=None,
                    previous_code_sha256=None,
                    build_key=None,
                    reason=reason,
                    reason_code=reason_code,
                )
            )

    def clear(self, account_id: str, name: str, revision_id: str | None = None) -> None:
        """Forget the update (of `revision_id` only, when given)."""
        query = delete(function_updates).where(*_key(account_id, name))
        if revision_id is not None:
            query = query.where(function_updates.c.revision_id == revision_id)
        with self._db.write() as conn:
            conn.execute(query)

    def waiting_for(self, account_id: str, build_key: str) -> list[FunctionUpdate]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(function_updates).where(
                    function_updates.c.account_id == account_id,
                    function_updates.c.build_key == build_key,
                    function_updates.c.status == UpdateStatus.IN_PROGRESS,
                )
            ).all()
        return [_update(r) for r in rows]

    def in_progress(self) -> list[FunctionUpdate]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(function_updates).where(
                    function_updates.c.status == UpdateStatus.IN_PROGRESS
                )
            ).all()
        return [_update(r) for r in rows]

    def code_references(self, sha256: str) -> int:
        with self._db.read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(function_updates)
                    .where(function_updates.c.previous_code_sha256 == sha256)
                ).scalar_one()
            )


def _key(account_id: str, name: str) -> tuple[Any, ...]:
    return (
        function_updates.c.account_id == account_id,
        function_updates.c.function_name == name,
    )


def _version_document(version: FunctionVersion) -> dict[str, Any]:
    return {
        "config": version.config.to_store(),
        "code_sha256": version.code.sha256,
        "code_size": version.code.size,
        "revision_id": version.revision_id,
        "last_modified": version.last_modified,
    }


def _update(row: Row[Any]) -> FunctionUpdate:
    previous = None
    if row.previous:
        doc = row.previous
        previous = FunctionVersion(
            account_id=row.account_id,
            function_name=row.function_name,
            version="$LATEST",
            config=FunctionConfig.from_store(doc["config"]),
            code=Code(doc["code_sha256"], int(doc["code_size"])),
            revision_id=doc["revision_id"],
            last_modified=doc["last_modified"],
        )
    return FunctionUpdate(
        account_id=row.account_id,
        function_name=row.function_name,
        status=UpdateStatus(row.status),
        revision_id=row.revision_id,
        previous=previous,
        reason=row.reason,
        reason_code=row.reason_code,
        started_at=float(row.started_at),
    )
