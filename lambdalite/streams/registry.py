"""StreamRegistry: an account's Redis streams, by the Kinesis-style names mappings use.

Registering points the platform at a Redis server, which then reads it on the account's
behalf. Root may register any server; other accounts only the operator's allowed
"host:port" list (settings.redis_stream_allow): otherwise an account could make the
platform read the operator's own Redis and hand its streams to the account's function.
The password in a URL is kept server-side and never shown again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from lambdalite.errors import (
    AccessDeniedException,
    ResourceConflictException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from lambdalite.store.database import Database
from lambdalite.store.stream_schema import redis_streams as table
from lambdalite.streams.location import (
    StreamLocation,
    check_stream_name,
    check_url,
    stream_arn,
)

# (account, stream ARN) -> UUIDs of the mappings reading it.
MappingsOf = Callable[[str, str], list[str]]


@dataclass(frozen=True)
class RegisteredStream:
    account_id: str
    name: str
    location: StreamLocation
    created_at: float


class StreamRegistry:
    def __init__(
        self,
        db: Database,
        region: str,
        allowed: Sequence[str],
        is_root: Callable[[str], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self.region = region
        self._allowed = set(allowed)
        self._is_root = is_root
        self._clock = clock
        self.mappings_of: MappingsOf = lambda _account, _arn: []

    def register(self, account_id: str, name: str, url: str, key: str | None) -> RegisteredStream:
        check_stream_name(name)
        check_url(url)
        location = StreamLocation(url, key or name)
        if not location.key or len(location.key) > 512:
            raise ResourceConflictException("A stream key is 1-512 characters.")
        if not self._is_root(account_id) and location.address not in self._allowed:
            raise AccessDeniedException(
                f"Only the root account may register Redis server {location.address}: ask the "
                "operator to add it to LAMBDALITE_REDIS_ALLOW."
            )
        found = RegisteredStream(account_id, name, location, self._clock())
        try:
            with self._db.write() as conn:
                conn.execute(
                    insert(table).values(
                        account_id=account_id,
                        name=name,
                        url=url,
                        stream_key=location.key,
                        created_at=found.created_at,
                    )
                )
        except IntegrityError:
            raise ResourceConflictException(f"Stream {name} is already registered.") from None
        return found

    def get(self, account_id: str, name: str) -> RegisteredStream | None:
        with self._db.read() as conn:
            row = conn.execute(
                select(table).where(table.c.account_id == account_id, table.c.name == name)
            ).first()
        if row is None:
            return None
        return RegisteredStream(
            row.account_id, row.name, StreamLocation(row.url, row.stream_key), row.created_at
        )

    def of_account(self, account_id: str) -> list[RegisteredStream]:
        query = select(table).where(table.c.account_id == account_id).order_by(table.c.name)
        with self._db.read() as conn:
            return [
                RegisteredStream(
                    r.account_id, r.name, StreamLocation(r.url, r.stream_key), r.created_at
                )
                for r in conn.execute(query)
            ]

    def remove(self, account_id: str, name: str) -> None:
        """Forget a stream; refused while a mapping reads it (its poller would stall)."""
        users = self.mappings_of(account_id, self.arn(account_id, name))
        if users:
            raise ResourceInUseException(
                f"Stream {name} is read by event source mapping(s) {', '.join(users)}: "
                "delete them first."
            )
        with self._db.write() as conn:
            result = conn.execute(
                delete(table).where(table.c.account_id == account_id, table.c.name == name)
            )
        if not result.rowcount:
            raise ResourceNotFoundException(f"Stream not found: {name}")

    def arn(self, account_id: str, name: str) -> str:
        return stream_arn(self.region, account_id, name)
