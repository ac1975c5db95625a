"""WebhookSecrets: the per-account bearer secrets S3-compatible stores present to the
notification webhook (docs/decisions/0503-buckets.md).

A secret is shown once, when it is created; the store keeps its SHA-256 only, so a copy
of the database does not let anyone post notifications. A secret is 32 random bytes:
looking one up by its hash needs no constant-time comparison (the hash reveals nothing
useful about a guess).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, insert, select

from lambdalite.store.bucket_schema import webhook_secrets as table
from lambdalite.store.database import Database

PREFIX = "llwh_"  # makes a leaked secret recognisable (secret scanners, logs)


@dataclass(frozen=True)
class WebhookSecret:
    secret_id: str
    account_id: str
    description: str
    created_at: float


class WebhookSecrets:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def create(self, account_id: str, description: str) -> tuple[WebhookSecret, str]:
        """A new secret of the account: its record, and the secret itself (shown once)."""
        value = PREFIX + secrets.token_urlsafe(32)
        found = WebhookSecret(secrets.token_hex(8), account_id, description, self._clock())
        with self._db.write() as conn:
            conn.execute(
                insert(table).values(
                    secret_id=found.secret_id,
                    account_id=account_id,
                    secret_sha256=_digest(value),
                    description=description,
                    created_at=found.created_at,
                )
            )
        return found, value

    def of_account(self, account_id: str) -> list[WebhookSecret]:
        query = select(table).where(table.c.account_id == account_id).order_by(table.c.created_at)
        with self._db.read() as conn:
            return [
                WebhookSecret(r.secret_id, r.account_id, r.description, r.created_at)
                for r in conn.execute(query)
            ]

    def delete(self, account_id: str, secret_id: str) -> bool:
        with self._db.write() as conn:
            result = conn.execute(
                delete(table).where(
                    table.c.account_id == account_id, table.c.secret_id == secret_id
                )
            )
        return bool(result.rowcount)

    def account_of(self, value: str) -> str | None:
        """The account a presented secret belongs to, or None."""
        with self._db.read() as conn:
            found = conn.execute(
                select(table.c.account_id).where(table.c.secret_sha256 == _digest(value))
            ).scalar()
        return str(found) if found is not None else None


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
