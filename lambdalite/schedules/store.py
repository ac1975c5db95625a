"""Scheduled rules and their targets in the store, and the firing transaction.

`fire_due` is where "neither lost nor fired twice" is decided: a due rule's next due
time is advanced in the same transaction that enqueues its events, guarded by the value
it was read with, and the rows are claimed `FOR UPDATE SKIP LOCKED` on PostgreSQL (on
SQLite, BEGIN IMMEDIATE serialises writers), so two servers on one catalogue never both
fire one due time, and a crash before the commit leaves the rule due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from lambdalite.schedules.model import Rule, RuleState, Target
from lambdalite.store.database import Database
from lambdalite.store.schedule_schema import schedule_rules as rules
from lambdalite.store.schedule_schema import schedule_targets as targets

log = logging.getLogger(__name__)

# (the connection of the firing transaction, the rule, its targets): enqueue its events.
Fire = Callable[[Connection, Rule, list[Target]], None]


class RuleHasTargets(Exception):
    pass


class TooManyTargets(Exception):
    pass


class RuleStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- rules ----------------------------------------------------------------------------
    def put_rule(self, rule: Rule) -> None:
        """Create the rule, or replace its settings (its creation time and tags stay)."""
        row = _rule_row(rule)
        changes = {k: v for k, v in row.items() if k not in ("account_id", "name", "created_at")}
        del changes["tags"]
        statement = self._db.insert(rules).values(**row)
        statement = statement.on_conflict_do_update(
            index_elements=["account_id", "name"], set_=changes
        )
        with self._db.write() as conn:
            conn.execute(statement)

    def get_rule(self, account_id: str, name: str) -> Rule | None:
        with self._db.read() as conn:
            row = conn.execute(select(rules).where(*_rule_key(account_id, name))).first()
        return _rule(row) if row is not None else None

    def list_rules(
        self, account_id: str, prefix: str | None, after: str | None, limit: int
    ) -> list[Rule]:
        """Rules in name order, after the name `after`; `limit` at most."""
        query = select(rules).where(rules.c.account_id == account_id)
        if prefix:
            query = query.where(rules.c.name.startswith(prefix, autoescape=True))
        if after is not None:
            query = query.where(rules.c.name > after)
        with self._db.read() as conn:
            rows = conn.execute(query.order_by(rules.c.name).limit(limit)).all()
        return [_rule(row) for row in rows]

    def set_state(
        self, account_id: str, name: str, state: RuleState, next_due_at: float | None
    ) -> bool:
        with self._db.write() as conn:
            result = conn.execute(
                update(rules)
                .where(*_rule_key(account_id, name))
                .values(state=state.value, next_due_at=next_due_at)
            )
        return bool(result.rowcount)

    def set_tags(self, account_id: str, name: str, tags: dict[str, str]) -> bool:
        with self._db.write() as conn:
            result = conn.execute(
                update(rules).where(*_rule_key(account_id, name)).values(tags=tags)
            )
        return bool(result.rowcount)

    def delete_rule(self, account_id: str, name: str) -> None:
        """Raises RuleHasTargets while the rule has any (checked in the same transaction)."""
        with self._db.write() as conn:
            count = conn.execute(
                select(func.count())
                .select_from(targets)
                .where(targets.c.account_id == account_id, targets.c.rule_name == name)
            ).scalar_one()
            if count:
                raise RuleHasTargets
            conn.execute(delete(rules).where(*_rule_key(account_id, name)))

    # -- targets --------------------------------------------------------------------------
    def targets(self, account_id: str, rule_name: str) -> list[Target]:
        with self._db.read() as conn:
            return _targets(conn, account_id, rule_name)

    def put_targets(
        self, account_id: str, rule_name: str, new: Sequence[Target], most: int
    ) -> None:
        """Add or replace targets by id; raises TooManyTargets past `most` per rule."""
        with self._db.write() as conn:
            existing = {t.target_id for t in _targets(conn, account_id, rule_name)}
            if len(existing | {t.target_id for t in new}) > most:
                raise TooManyTargets
            for target in new:
                conn.execute(delete(targets).where(*_target_key(target)))
                conn.execute(insert(targets).values(**_target_row(target)))

    def remove_targets(self, account_id: str, rule_name: str, ids: Sequence[str]) -> None:
        with self._db.write() as conn:
            conn.execute(
                delete(targets).where(
                    targets.c.account_id == account_id,
                    targets.c.rule_name == rule_name,
                    targets.c.target_id.in_(list(ids)),
                )
            )

    # -- firing ---------------------------------------------------------------------------
    def has_due(self, now: float) -> bool:
        """A cheap read, so an idle pass takes no write lock."""
        query = select(rules.c.name).where(rules.c.next_due_at <= now).limit(1)
        with self._db.read() as conn:
            return conn.execute(query).first() is not None

    def fire_due(
        self, now: float, limit: int, next_due: Callable[[Rule], float | None], fire: Fire
    ) -> int:
        """Fire up to `limit` due rules, each in its own savepoint of one transaction:
        its next due time advanced (only if still the one read) and `fire` called, or
        neither. Returns how many fired."""
        query = (
            select(rules)
            .where(rules.c.next_due_at <= now, rules.c.state == RuleState.ENABLED.value)
            .order_by(rules.c.next_due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        fired = 0
        with self._db.write() as conn:
            for row in conn.execute(query).all():
                rule = _rule(row)
                try:
                    with conn.begin_nested():
                        advanced = conn.execute(
                            update(rules)
                            .where(
                                *_rule_key(rule.account_id, rule.name),
                                rules.c.next_due_at == rule.next_due_at,
                            )
                            .values(next_due_at=next_due(rule))
                        )
                        if advanced.rowcount != 1:
                            continue  # fired by someone else meanwhile
                        fire(conn, rule, _targets(conn, rule.account_id, rule.name))
                        fired += 1
                except Exception:  # this rule stays due; the others go on
                    log.exception("schedule %s/%s: firing failed", rule.account_id, rule.name)
        return fired


def _rule_key(account_id: str, name: str) -> tuple[Any, ...]:
    return (rules.c.account_id == account_id, rules.c.name == name)


def _target_key(target: Target) -> tuple[Any, ...]:
    return (
        targets.c.account_id == target.account_id,
        targets.c.rule_name == target.rule_name,
        targets.c.target_id == target.target_id,
    )


def _targets(conn: Connection, account_id: str, rule_name: str) -> list[Target]:
    query = (
        select(targets)
        .where(targets.c.account_id == account_id, targets.c.rule_name == rule_name)
        .order_by(targets.c.added_at, targets.c.target_id)
    )
    return [_target(row) for row in conn.execute(query).all()]


def _rule_row(rule: Rule) -> dict[str, Any]:
    return {
        "account_id": rule.account_id,
        "name": rule.name,
        "schedule_expression": rule.schedule_expression,
        "state": rule.state.value,
        "description": rule.description,
        "role_arn": rule.role_arn,
        "tags": dict(rule.tags),
        "created_at": rule.created_at,
        "next_due_at": rule.next_due_at,
    }


def _rule(row: Row[Any]) -> Rule:
    return Rule(
        account_id=row.account_id,
        name=row.name,
        schedule_expression=row.schedule_expression,
        state=RuleState(row.state),
        description=row.description,
        role_arn=row.role_arn,
        created_at=row.created_at,
        next_due_at=row.next_due_at,
        tags=dict(row.tags),
    )


def _target_row(target: Target) -> dict[str, Any]:
    return {
        "account_id": target.account_id,
        "rule_name": target.rule_name,
        "target_id": target.target_id,
        "arn": target.arn,
        "input": target.input,
        "added_at": target.added_at,
    }


def _target(row: Row[Any]) -> Target:
    return Target(row.account_id, row.rule_name, row.target_id, row.arn, row.input, row.added_at)
