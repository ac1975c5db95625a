"""Dependency builds (one per account and requirement set) and the dependency layers
they produced. Every method is one transaction.

A build is claimed with a lease, like an asynchronous invocation (0402): the claiming
server renews it while pip runs; a build whose lease ran out (its server died) is
claimed again by the next `claim`, on any server sharing the catalogue.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Row, and_, delete, or_, select, update

from lambdalite.layers.model import Build, BuildStatus, DependencyLayer
from lambdalite.layers.requirements import BuildRequest
from lambdalite.store.database import Database
from lambdalite.store.layer_schema import dependency_builds, dependency_layers

# The stored log keeps its beginning and its end: pip's error is at the end.
MAX_LOG_CHARS = 256 * 1024


class BuildStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- builds -------------------------------------------------------------------------
    def get(self, account_id: str, key: str) -> Build | None:
        with self._db.read() as conn:
            row = conn.execute(select(dependency_builds).where(*_key(account_id, key))).first()
        return _build(row) if row else None

    def get_many(self, account_id: str, keys: set[str]) -> dict[str, Build]:
        if not keys:
            return {}
        with self._db.read() as conn:
            rows = conn.execute(
                select(dependency_builds).where(
                    dependency_builds.c.account_id == account_id,
                    dependency_builds.c.build_key.in_(sorted(keys)),
                )
            ).all()
        return {r.build_key: _build(r) for r in rows}

    def request(self, account_id: str, request: BuildRequest, now: float | None = None) -> Build:
        """The build of `request`, added as pending if new; a failed one is tried again
        (the failure may have been the index's, and someone asks for it anew)."""
        now = time.time() if now is None else now
        with self._db.write() as conn:
            conn.execute(
                self._db.insert(dependency_builds)
                .values(
                    account_id=account_id,
                    build_key=request.key,
                    requirements=request.text,
                    source=request.source,
                    python=request.python,
                    platform=request.platform,
                    status=BuildStatus.PENDING,
                    log="",
                    attempts=0,
                    created_at=now,
                )
                .on_conflict_do_nothing()
            )
            conn.execute(
                update(dependency_builds)
                .where(
                    *_key(account_id, request.key), dependency_builds.c.status == BuildStatus.FAILED
                )
                .values(
                    status=BuildStatus.PENDING,
                    reason=None,
                    log="",
                    created_at=now,
                    started_at=None,
                    finished_at=None,
                    claimed_by=None,
                    lease_until=None,
                )
            )
            row = conn.execute(
                select(dependency_builds).where(*_key(account_id, request.key))
            ).one()
        return _build(row)

    def claim(self, server: str, lease_s: float, now: float | None = None) -> Build | None:
        """Take the oldest pending build, or one whose server's lease ran out."""
        now = time.time() if now is None else now
        claimable = or_(
            dependency_builds.c.status == BuildStatus.PENDING,
            and_(
                dependency_builds.c.status == BuildStatus.BUILDING,
                dependency_builds.c.lease_until < now,
            ),
        )
        with self._db.write() as conn:
            query = (
                select(dependency_builds).where(claimable).order_by(dependency_builds.c.created_at)
            )
            if not self._db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            row = conn.execute(query.limit(1)).first()
            if row is None:
                return None
            conn.execute(
                update(dependency_builds)
                .where(*_key(row.account_id, row.build_key))
                .values(
                    status=BuildStatus.BUILDING,
                    claimed_by=server,
                    lease_until=now + lease_s,
                    started_at=now,
                    attempts=row.attempts + 1,
                    log="",
                )
            )
            row = conn.execute(
                select(dependency_builds).where(*_key(row.account_id, row.build_key))
            ).one()
        return _build(row)

    def renew(self, build: Build, server: str, lease_until: float, log: str) -> bool:
        """Extend our lease and store the log so far; False if the build is no longer ours
        (its lease ran out and another server took it)."""
        with self._db.write() as conn:
            result = conn.execute(
                update(dependency_builds)
                .where(*_mine(build, server))
                .values(lease_until=lease_until, log=clip_log(log))
            )
        return bool(result.rowcount)

    def finish(
        self,
        build: Build,
        server: str,
        *,
        layer: DependencyLayer | None,
        reason: str | None,
        log: str,
        now: float | None = None,
    ) -> bool:
        """Record the result: ready with `layer` (stored here, unless the account has that
        layer already), or failed with `reason`. False if the build is no longer ours."""
        now = time.time() if now is None else now
        with self._db.write() as conn:
            if layer is not None:
                conn.execute(
                    self._db.insert(dependency_layers)
                    .values(**_layer_row(layer))
                    .on_conflict_do_nothing()
                )
            result = conn.execute(
                update(dependency_builds)
                .where(*_mine(build, server))
                .values(
                    status=BuildStatus.READY if layer is not None else BuildStatus.FAILED,
                    layer_digest=layer.digest if layer is not None else None,
                    layer_size=layer.size_bytes if layer is not None else None,
                    reason=reason,
                    log=clip_log(log),
                    finished_at=now,
                    claimed_by=None,
                    lease_until=None,
                )
            )
        return bool(result.rowcount)

    def release_all_building(self) -> int:
        """Builds left `building` by a server that stopped (called at start where one
        server owns the catalogue: SQLite) go back to pending."""
        with self._db.write() as conn:
            result = conn.execute(
                update(dependency_builds)
                .where(dependency_builds.c.status == BuildStatus.BUILDING)
                .values(status=BuildStatus.PENDING, claimed_by=None, lease_until=None)
            )
        return int(result.rowcount)

    def all(self) -> list[Build]:
        """Every build, without its log (for the collector and `layers ls`)."""
        columns = [c for c in dependency_builds.c if c.name != "log"]
        with self._db.read() as conn:
            rows = conn.execute(select(*columns)).all()
        return [_build(r) for r in rows]

    def delete(self, account_id: str, key: str) -> None:
        with self._db.write() as conn:
            conn.execute(
                delete(dependency_builds).where(
                    *_key(account_id, key), dependency_builds.c.status != BuildStatus.BUILDING
                )
            )

    # -- dependency layers --------------------------------------------------------------
    def layer(self, account_id: str, digest: str) -> DependencyLayer | None:
        with self._db.read() as conn:
            row = conn.execute(
                select(dependency_layers).where(
                    dependency_layers.c.account_id == account_id,
                    dependency_layers.c.digest == digest,
                )
            ).first()
        return _dependency_layer(row) if row else None

    def layers(self) -> list[DependencyLayer]:
        with self._db.read() as conn:
            rows = conn.execute(select(dependency_layers)).all()
        return [_dependency_layer(r) for r in rows]

    def delete_layer(self, account_id: str, digest: str) -> None:
        with self._db.write() as conn:
            conn.execute(
                delete(dependency_layers).where(
                    dependency_layers.c.account_id == account_id,
                    dependency_layers.c.digest == digest,
                )
            )


def clip_log(log: str) -> str:
    if len(log) <= MAX_LOG_CHARS:
        return log
    half = MAX_LOG_CHARS // 2
    dropped = len(log) - 2 * half
    return (
        f"{log[:half]}\n[lambdalite] {dropped} characters of the build log dropped\n{log[-half:]}"
    )


def _key(account_id: str, key: str) -> tuple[Any, ...]:
    return (dependency_builds.c.account_id == account_id, dependency_builds.c.build_key == key)


def _mine(build: Build, server: str) -> tuple[Any, ...]:
    return (
        *_key(build.account_id, build.key),
        dependency_builds.c.status == BuildStatus.BUILDING,
        dependency_builds.c.claimed_by == server,
    )


def _build(row: Row[Any]) -> Build:
    mapping = row._mapping
    return Build(
        account_id=row.account_id,
        key=row.build_key,
        requirements=row.requirements,
        source=row.source,
        python=row.python,
        platform=row.platform,
        status=BuildStatus(row.status),
        layer_digest=row.layer_digest,
        layer_size=row.layer_size,
        reason=row.reason,
        log=mapping.get("log") or "",
        attempts=int(row.attempts),
        created_at=float(row.created_at),
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def _layer_row(layer: DependencyLayer) -> dict[str, Any]:
    return {
        "account_id": layer.account_id,
        "digest": layer.digest,
        "resolved": list(layer.resolved),
        "python": layer.python,
        "platform": layer.platform,
        "size_bytes": layer.size_bytes,
        "files": layer.files,
        "preimport": list(layer.preimport),
        "import_ms": dict(layer.import_ms),
        "created_at": layer.created_at,
    }


def _dependency_layer(row: Row[Any]) -> DependencyLayer:
    return DependencyLayer(
        account_id=row.account_id,
        digest=row.digest,
        resolved=tuple(row.resolved or ()),
        python=row.python,
        platform=row.platform,
        size_bytes=int(row.size_bytes),
        files=int(row.files),
        preimport=tuple(row.preimport or ()),
        import_ms=dict(row.import_ms or {}),
        created_at=float(row.created_at),
    )
