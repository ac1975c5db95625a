"""Event source mappings in the store: one row each. Every method is one transaction.

State changes are compare-and-set (`settle`, `remove` name the state they expect), and
edits read and write under the row's lock (`change`): several servers sharing PostgreSQL
reconcile the same mappings, and each transition happens once whoever gets there first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from lambdalite.mappings.model import EventSourceMapping, MappingState, SourceKind
from lambdalite.store.database import Database
from lambdalite.store.mapping_schema import event_source_mappings as table


class MappingExists(Exception):
    """Another mapping already joins this source and function."""

    def __init__(self, existing: EventSourceMapping) -> None:
        super().__init__(existing.uuid)
        self.existing = existing


class MappingStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def insert(self, mapping: EventSourceMapping) -> None:
        """Store a new mapping; MappingExists if its source and function have one."""
        try:
            with self._db.write() as conn:
                _refuse_duplicate(conn, mapping)
                conn.execute(insert(table).values(**_row(mapping)))
        except IntegrityError:
            # A concurrent create (another server) won the unique constraint.
            existing = self._twin(mapping)
            if existing is None:
                raise
            raise MappingExists(existing) from None

    def get(self, uuid: str) -> EventSourceMapping | None:
        with self._db.read() as conn:
            row = conn.execute(select(table).where(table.c.uuid == uuid)).first()
        return _mapping(row) if row else None

    def of_account(self, account_id: str) -> list[EventSourceMapping]:
        """The account's mappings, by UUID (the order pages follow)."""
        query = select(table).where(table.c.account_id == account_id).order_by(table.c.uuid)
        with self._db.read() as conn:
            return [_mapping(row) for row in conn.execute(query)]

    def all(self) -> list[EventSourceMapping]:
        with self._db.read() as conn:
            return [_mapping(row) for row in conn.execute(select(table).order_by(table.c.uuid))]

    def change(
        self, uuid: str, edit: Callable[[EventSourceMapping], EventSourceMapping]
    ) -> EventSourceMapping | None:
        """Apply `edit` to the mapping under its row lock and store the result (None: no
        such mapping). An exception from `edit` leaves the mapping as it was."""
        with self._db.write() as conn:
            row = conn.execute(select(table).where(table.c.uuid == uuid).with_for_update()).first()
            if row is None:
                return None
            old = _mapping(row)
            new = edit(old)
            if _pair(new) != _pair(old):
                _refuse_duplicate(conn, new)
            conn.execute(update(table).where(table.c.uuid == uuid).values(**_row(new)))
        return new

    def settle(self, uuid: str, expected: MappingState, state: MappingState, now: float) -> bool:
        """Move a mapping from `expected` to `state`; False if it was not in `expected`
        (another server moved it first, or the user changed it since)."""
        with self._db.write() as conn:
            result = conn.execute(
                update(table)
                .where(table.c.uuid == uuid, table.c.state == expected.value)
                .values(state=state.value, last_modified=now)
            )
        return bool(result.rowcount)

    def remove(self, uuid: str, expected: MappingState) -> bool:
        with self._db.write() as conn:
            result = conn.execute(
                delete(table).where(table.c.uuid == uuid, table.c.state == expected.value)
            )
        return bool(result.rowcount)

    def _twin(self, mapping: EventSourceMapping) -> EventSourceMapping | None:
        with self._db.read() as conn:
            row = conn.execute(select(table).where(*_pair_clause(mapping))).first()
        return _mapping(row) if row else None


def _refuse_duplicate(conn: Connection, mapping: EventSourceMapping) -> None:
    row = conn.execute(
        select(table).where(*_pair_clause(mapping), table.c.uuid != mapping.uuid)
    ).first()
    if row is not None:
        raise MappingExists(_mapping(row))


def _pair(mapping: EventSourceMapping) -> tuple[str, str, str]:
    return (mapping.source_arn, mapping.function_name, mapping.qualifier or "")


def _pair_clause(mapping: EventSourceMapping) -> tuple[Any, ...]:
    return (
        table.c.account_id == mapping.account_id,
        table.c.source_arn == mapping.source_arn,
        table.c.function_name == mapping.function_name,
        table.c.qualifier == (mapping.qualifier or ""),
    )


def _row(mapping: EventSourceMapping) -> dict[str, Any]:
    return {
        "uuid": mapping.uuid,
        "account_id": mapping.account_id,
        "function_name": mapping.function_name,
        "qualifier": mapping.qualifier or "",
        "source_kind": mapping.source_kind.value,
        "source_arn": mapping.source_arn,
        "enabled": mapping.enabled,
        "state": mapping.state.value,
        "state_reason": mapping.state_reason,
        "last_modified": mapping.last_modified,
        "batch_size": mapping.batch_size,
        "batching_window": mapping.batching_window_s,
        "function_response_types": list(mapping.function_response_types),
        "maximum_concurrency": mapping.maximum_concurrency,
        "filter_patterns": list(mapping.filter_patterns),
        "source_settings": dict(mapping.source_settings),
        "tags": dict(mapping.tags),
    }


def _mapping(row: Row[Any]) -> EventSourceMapping:
    return EventSourceMapping(
        uuid=row.uuid,
        account_id=row.account_id,
        function_name=row.function_name,
        qualifier=row.qualifier or None,
        source_kind=SourceKind(row.source_kind),
        source_arn=row.source_arn,
        enabled=bool(row.enabled),
        state=MappingState(row.state),
        state_reason=row.state_reason,
        last_modified=row.last_modified,
        batch_size=row.batch_size,
        batching_window_s=row.batching_window,
        function_response_types=tuple(row.function_response_types),
        maximum_concurrency=row.maximum_concurrency,
        filter_patterns=tuple(row.filter_patterns),
        source_settings=dict(row.source_settings),
        tags=dict(row.tags),
    )
