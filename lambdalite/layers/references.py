"""Who uses what: every function version's layers and dependency build, read straight
from the versions' stored configuration (and from the previous $LATEST an update in
progress keeps serving), for the collector and for `lambdalite layers ls`.

Aliases point at versions, so a version an alias uses is counted as a version; a
published version keeps its layers and dependencies for as long as it exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from lambdalite.model import FunctionConfig, LayerRef
from lambdalite.store.database import Database
from lambdalite.store.layer_schema import function_updates
from lambdalite.store.schema import function_versions


@dataclass(frozen=True)
class VersionUse:
    account_id: str
    function_name: str
    version: str  # "$LATEST (previous)" for an update's serving version
    dependencies: str | None
    layers: tuple[LayerRef, ...]


class References:
    def __init__(self, db: Database) -> None:
        self._db = db

    def versions(self, account_id: str | None = None) -> list[VersionUse]:
        query = select(
            function_versions.c.account_id,
            function_versions.c.function_name,
            function_versions.c.version,
            function_versions.c.config,
        )
        previous = select(
            function_updates.c.account_id,
            function_updates.c.function_name,
            function_updates.c.previous,
        ).where(function_updates.c.previous.is_not(None))
        if account_id is not None:
            query = query.where(function_versions.c.account_id == account_id)
            previous = previous.where(function_updates.c.account_id == account_id)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
            snapshots = conn.execute(previous).all()
        uses = [_use(r.account_id, r.function_name, r.version, r.config) for r in rows]
        uses += [
            _use(r.account_id, r.function_name, "$LATEST (previous)", r.previous["config"])
            for r in snapshots
            if r.previous
        ]
        return uses


def _use(account_id: str, name: str, version: str, config: dict[str, object]) -> VersionUse:
    parsed = FunctionConfig.from_store(config)
    return VersionUse(account_id, name, version, parsed.dependencies, parsed.layers)
