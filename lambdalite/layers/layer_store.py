"""Layer versions and their permission statements (PublishLayerVersion's resources).

Every method is one transaction. Version numbers come from `layer_names.last_version`,
bumped in the transaction that inserts the version, so they are never reused.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update

from lambdalite.layers.model import LayerVersion
from lambdalite.store.database import Database
from lambdalite.store.layer_schema import layer_names, layer_version_permissions, layer_versions


class LayerVersionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def publish(
        self, account_id: str, name: str, make: Callable[[int], LayerVersion]
    ) -> LayerVersion:
        """Insert the layer's next version, `make(number)`."""
        with self._db.write() as conn:
            row = conn.execute(
                select(layer_names.c.last_version)
                .where(layer_names.c.account_id == account_id, layer_names.c.layer_name == name)
                .with_for_update()
            ).first()
            if row is None:
                number = 1
                conn.execute(
                    insert(layer_names).values(
                        account_id=account_id, layer_name=name, last_version=1
                    )
                )
            else:
                number = int(row.last_version) + 1
                conn.execute(
                    update(layer_names)
                    .where(layer_names.c.account_id == account_id, layer_names.c.layer_name == name)
                    .values(last_version=number)
                )
            created = make(number)
            conn.execute(insert(layer_versions).values(**_row(created)))
        return created

    def get(self, account_id: str, name: str, version: int) -> LayerVersion | None:
        with self._db.read() as conn:
            row = conn.execute(
                select(layer_versions).where(
                    *_key(account_id, name), layer_versions.c.version == version
                )
            ).first()
        return _layer(row) if row else None

    def versions(self, account_id: str, name: str) -> list[LayerVersion]:
        """Newest first, as ListLayerVersions lists them."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(layer_versions)
                .where(*_key(account_id, name))
                .order_by(layer_versions.c.version.desc())
            ).all()
        return [_layer(r) for r in rows]

    def all_versions(self, account_id: str) -> list[LayerVersion]:
        """Every version of every layer of the account, by name, newest first."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(layer_versions)
                .where(layer_versions.c.account_id == account_id)
                .order_by(layer_versions.c.layer_name, layer_versions.c.version.desc())
            ).all()
        return [_layer(r) for r in rows]

    def delete(self, account_id: str, name: str, version: int) -> LayerVersion | None:
        with self._db.write() as conn:
            row = conn.execute(
                select(layer_versions).where(
                    *_key(account_id, name), layer_versions.c.version == version
                )
            ).first()
            if row is None:
                return None
            conn.execute(
                delete(layer_version_permissions).where(
                    layer_version_permissions.c.account_id == account_id,
                    layer_version_permissions.c.layer_name == name,
                    layer_version_permissions.c.version == version,
                )
            )
            conn.execute(
                delete(layer_versions).where(
                    *_key(account_id, name), layer_versions.c.version == version
                )
            )
        return _layer(row)

    def code_references(self, sha256: str) -> int:
        with self._db.read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(layer_versions)
                    .where(layer_versions.c.code_sha256 == sha256)
                ).scalar_one()
            )

    def all_shas(self) -> set[str]:
        with self._db.read() as conn:
            return set(conn.execute(select(layer_versions.c.code_sha256).distinct()).scalars())

    # -- permissions (AddLayerVersionPermission) -----------------------------------------
    def statements(self, account_id: str, name: str, version: int) -> list[dict[str, Any]]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(layer_version_permissions)
                .where(
                    layer_version_permissions.c.account_id == account_id,
                    layer_version_permissions.c.layer_name == name,
                    layer_version_permissions.c.version == version,
                )
                .order_by(layer_version_permissions.c.statement_id)
            ).all()
        return [
            {"Sid": r.statement_id, "Principal": r.principal, "OrganizationId": r.organization_id}
            for r in rows
        ]

    def policy_revision(self, account_id: str, name: str, version: int) -> str | None:
        with self._db.read() as conn:
            return conn.execute(
                select(layer_versions.c.policy_revision).where(
                    *_key(account_id, name), layer_versions.c.version == version
                )
            ).scalar()

    def add_statement(
        self,
        account_id: str,
        name: str,
        version: int,
        statement: dict[str, Any],
        expected_revision: str | None,
    ) -> str | None:
        """Add a statement; returns the policy's new revision, or None when the version is
        gone. Raises KeyError when the Sid exists, ValueError on a stale revision."""
        with self._db.write() as conn:
            current = conn.execute(
                select(layer_versions.c.policy_revision)
                .where(*_key(account_id, name), layer_versions.c.version == version)
                .with_for_update()
            ).first()
            if current is None:
                return None
            if expected_revision is not None and expected_revision != current.policy_revision:
                raise ValueError(current.policy_revision)
            exists = conn.execute(
                select(layer_version_permissions.c.statement_id).where(
                    layer_version_permissions.c.account_id == account_id,
                    layer_version_permissions.c.layer_name == name,
                    layer_version_permissions.c.version == version,
                    layer_version_permissions.c.statement_id == statement["Sid"],
                )
            ).first()
            if exists is not None:
                raise KeyError(statement["Sid"])
            conn.execute(
                insert(layer_version_permissions).values(
                    account_id=account_id,
                    layer_name=name,
                    version=version,
                    statement_id=statement["Sid"],
                    principal=statement["Principal"],
                    organization_id=statement.get("OrganizationId"),
                )
            )
            return _bump(conn, account_id, name, version)

    def remove_statement(
        self, account_id: str, name: str, version: int, sid: str, expected_revision: str | None
    ) -> bool:
        """Remove a statement; False when there is no such statement. ValueError on a stale
        revision."""
        with self._db.write() as conn:
            current = conn.execute(
                select(layer_versions.c.policy_revision)
                .where(*_key(account_id, name), layer_versions.c.version == version)
                .with_for_update()
            ).first()
            if current is None:
                return False
            if expected_revision is not None and expected_revision != current.policy_revision:
                raise ValueError(current.policy_revision)
            gone = conn.execute(
                delete(layer_version_permissions).where(
                    layer_version_permissions.c.account_id == account_id,
                    layer_version_permissions.c.layer_name == name,
                    layer_version_permissions.c.version == version,
                    layer_version_permissions.c.statement_id == sid,
                )
            )
            if not gone.rowcount:
                return False
            _bump(conn, account_id, name, version)
            return True


def _bump(conn: Any, account_id: str, name: str, version: int) -> str:
    revision = str(uuid.uuid4())
    conn.execute(
        update(layer_versions)
        .where(*_key(account_id, name), layer_versions.c.version == version)
        .values(policy_revision=revision)
    )
    return revision


def _key(account_id: str, name: str) -> tuple[Any, ...]:
    return (layer_versions.c.account_id == account_id, layer_versions.c.layer_name == name)


def _row(layer: LayerVersion) -> dict[str, Any]:
    return {
        "account_id": layer.account_id,
        "layer_name": layer.layer_name,
        "version": layer.version,
        "description": layer.description,
        "compatible_runtimes": list(layer.compatible_runtimes),
        "compatible_architectures": list(layer.compatible_architectures),
        "license_info": layer.license_info,
        "code_sha256": layer.code_sha256,
        "code_size": layer.code_size,
        "unzipped_size": layer.unzipped_size,
        "created_date": layer.created_date,
        "policy_revision": None,
    }


def _layer(row: Row[Any]) -> LayerVersion:
    return LayerVersion(
        account_id=row.account_id,
        layer_name=row.layer_name,
        version=int(row.version),
        description=row.description,
        compatible_runtimes=tuple(row.compatible_runtimes or ()),
        compatible_architectures=tuple(row.compatible_architectures or ()),
        license_info=row.license_info,
        code_sha256=row.code_sha256,
        code_size=int(row.code_size),
        unzipped_size=int(row.unzipped_size),
        created_date=row.created_date,
    )
