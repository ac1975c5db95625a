"""Accounts and their access keys, and the installation's own facts."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from lambdalite.model import AccessKey, Account
from lambdalite.store.database import Database
from lambdalite.store.schema import access_keys, accounts, platform_facts


class AccountStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, account: Account, key: AccessKey) -> None:
        """Insert an account with its first key; IntegrityError if the name is taken."""
        now = time.time()
        with self._db.write() as conn:
            conn.execute(insert(accounts).values(**_account_row(account), created_at=now))
            conn.execute(insert(access_keys).values(**_key_row(key), created_at=now))

    def by_name(self, name: str) -> Account | None:
        with self._db.read() as conn:
            row = conn.execute(select(accounts).where(accounts.c.name == name)).first()
        return Account(row.account_id, row.name) if row else None

    def by_id(self, account_id: str) -> Account | None:
        with self._db.read() as conn:
            row = conn.execute(select(accounts).where(accounts.c.account_id == account_id)).first()
        return Account(row.account_id, row.name) if row else None

    def keys_of(self, account_id: str) -> list[AccessKey]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(access_keys)
                .where(access_keys.c.account_id == account_id)
                .order_by(access_keys.c.created_at)
            ).all()
        return [AccessKey(r.access_key_id, r.secret_access_key, r.account_id) for r in rows]

    def key(self, access_key_id: str) -> AccessKey | None:
        with self._db.read() as conn:
            row = conn.execute(
                select(access_keys).where(access_keys.c.access_key_id == access_key_id)
            ).first()
        return AccessKey(row.access_key_id, row.secret_access_key, row.account_id) if row else None

    def put_key(self, key: AccessKey) -> None:
        """Add a key, or give an existing key id a new secret (a pinned root key changed)."""
        with self._db.write() as conn:
            changed = conn.execute(
                update(access_keys)
                .where(access_keys.c.access_key_id == key.access_key_id)
                .values(secret_access_key=key.secret_access_key, account_id=key.account_id)
            ).rowcount
            if not changed:
                conn.execute(insert(access_keys).values(**_key_row(key), created_at=time.time()))

    def fact(self, key: str, make: Callable[[], str]) -> str:
        """The value of an installation fact, created by `make` on first use."""
        with self._db.write() as conn:
            row = conn.execute(select(platform_facts).where(platform_facts.c.key == key)).first()
            if row:
                return str(row.value)
            value = make()
            try:
                with conn.begin_nested():
                    conn.execute(insert(platform_facts).values(key=key, value=value))
            except IntegrityError:  # another server sharing the database won the race
                row = conn.execute(select(platform_facts).where(platform_facts.c.key == key)).one()
                return str(row.value)
            return value


def _account_row(account: Account) -> dict[str, str]:
    return {"account_id": account.account_id, "name": account.name}


def _key_row(key: AccessKey) -> dict[str, str]:
    return {
        "access_key_id": key.access_key_id,
        "secret_access_key": key.secret_access_key,
        "account_id": key.account_id,
    }
