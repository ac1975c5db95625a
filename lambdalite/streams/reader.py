"""StreamReader: one mapping's view of its Redis stream, through a consumer group of its
own (`lambdalite-<mapping uuid>`, one consumer).

The group's pending entries list is the checkpoint: an entry read is pending until
XACKed, which the poller does only once the entry is done with. After a restart the
pending entries are read again first (XREADGROUP from id 0), in order, so nothing is
skipped or reordered; then new ones (`>`).

A lease key beside the stream (`lambdalite:esm:<uuid>:lease`, SET PX, renewed while a
batch runs) keeps a second server sharing the catalogue from reading the same group at
the same time. It is the only key lambdalite writes into the user's Redis, besides the
consumer group itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import redis
import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError
from redis.retry import Retry as SyncRetry

from lambdalite.streams.entries import StreamEntry
from lambdalite.streams.location import StreamLocation

CONSUMER = "lambdalite"
TIMEOUT_S = 5.0
_MAX_ID_SUFFIX = 18446744073709551615  # 2**64 - 1: the last possible id of a millisecond
# Take or renew the lease: set it if free, extend it if it is ours, else refuse.
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def group_name(mapping_uuid: str) -> str:
    return f"lambdalite-{mapping_uuid}"


def start_id(position: str, timestamp: float | None, latest: str | None) -> str:
    """The id a new consumer group starts after, for a StartingPosition."""
    if position == "LATEST":
        return latest or "$"
    if position == "AT_TIMESTAMP" and timestamp is not None:
        millis = int(timestamp * 1000)
        return f"{millis - 1}-{_MAX_ID_SUFFIX}" if millis > 0 else "0"
    return "0"  # TRIM_HORIZON: the oldest entry still in the stream


def latest_id(location: StreamLocation) -> str:
    """The id of the stream's newest entry now ("0-0" if it has none): where a LATEST
    mapping starts, fixed when it is created. Raises redis.RedisError if unreachable."""
    client = redis.Redis.from_url(
        location.url,
        socket_timeout=TIMEOUT_S,
        socket_connect_timeout=TIMEOUT_S,
        retry=SyncRetry(NoBackoff(), 0),  # an API call answers at once; no silent waits
    )
    try:
        newest: Any = client.xrevrange(location.key, count=1)
    finally:
        client.close()
    return _text(newest[0][0]) if newest else "0-0"


class StreamReader:
    def __init__(self, location: StreamLocation, mapping_uuid: str) -> None:
        self.location = location
        self.group = group_name(mapping_uuid)
        self._lease_key = f"lambdalite:esm:{mapping_uuid}:lease"
        # No retries inside redis-py: a failed round pauses the poller, which tries again.
        self._client: aredis.Redis = aredis.Redis.from_url(
            location.url, socket_connect_timeout=TIMEOUT_S, retry=Retry(NoBackoff(), 0)
        )

    async def ensure_group(self, start: str) -> None:
        """Create the mapping's group at `start`, unless it exists (then it goes on from
        where it was)."""
        try:
            await self._client.xgroup_create(self.location.key, self.group, id=start, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read_pending(self, after: str, count: int) -> list[StreamEntry]:
        """Entries read before and not acknowledged, from after `after` ("0": all)."""
        return await self._read(after, count)

    async def read_new(self, count: int) -> list[StreamEntry]:
        return await self._read(">", count)

    async def ack(self, ids: list[str]) -> None:
        if ids:
            await self._client.xack(self.location.key, self.group, *ids)

    async def wait_for_new(self, after: str, seconds: float) -> None:
        """Return when an entry after `after` exists, or after `seconds` (XREAD BLOCK:
        the group's state is untouched)."""
        await self._client.xread({self.location.key: after}, count=1, block=int(seconds * 1000))

    async def hold_lease(self, owner: str, ttl_s: float) -> bool:
        held: Any = await self._client.eval(_LEASE, 1, self._lease_key, owner, int(ttl_s * 1000))
        return bool(held)

    @contextlib.asynccontextmanager
    async def renewing(self, owner: str, ttl_s: float) -> AsyncIterator[None]:
        """Keep the lease while a batch runs (a function may run for 15 minutes)."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(ttl_s / 3)
                with contextlib.suppress(redis.RedisError):
                    await self.hold_lease(owner, ttl_s)

        task = asyncio.get_running_loop().create_task(renew())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def release_lease(self, owner: str) -> None:
        with contextlib.suppress(redis.RedisError):
            await self._client.eval(_RELEASE, 1, self._lease_key, owner)

    async def close(self) -> None:
        await self._client.aclose()

    async def _read(self, after: str, count: int) -> list[StreamEntry]:
        answer: Any = await self._client.xreadgroup(
            self.group, CONSUMER, {self.location.key: after}, count=count
        )
        found: list[StreamEntry] = []
        for _stream, entries in answer or []:
            for entry_id, fields in entries:
                found.append(StreamEntry(_text(entry_id), dict(fields) if fields else None))
        return found


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
