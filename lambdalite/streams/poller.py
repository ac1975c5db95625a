"""RedisStreamPoller: reads one stream mapping's Redis stream and invokes its function with
batches, as AWS's pollers read a Kinesis shard ("Using AWS Lambda with Amazon Kinesis").

One batch in flight, in stream order. One round (`run_once`):
    lease    hold the mapping's lease in Redis (another server may be reading it)
    read     pending entries of earlier runs first (after a restart, in order), then new
             ones, until BatchSize are held (entries held stay pending in the group)
    batch    BatchSize entries, the 6 MB an invoke carries, or what is held once the
             batching window of the first one ends; a retried or bisected batch goes at
             once. Entries older than MaximumRecordAgeInSeconds are discarded first.
    invoke   synchronously, through the Invoker, with AWS's Kinesis event
    settle   success: XACK the batch (the checkpoint). ReportBatchItemFailures: XACK up
             to the first failed item; the rest is retried. A function error: with
             BisectBatchOnFunctionError the batch is split in two, each half retried on
             its own (not counted as a retry); otherwise retried after 1 s, 2 s, 4 s ...
             (up to a minute) until MaximumRetryAttempts, then discarded. Throttles and
             platform errors are retried without counting. A discarded batch's failure
             record goes to the OnFailure queue (if set) before the batch is XACKed: if
             it cannot be written, nothing moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import redis
from starlette.concurrency import run_in_threadpool

from lambdalite.control.arns import function_arn
from lambdalite.errors import ApiError, ResourceNotFoundException, TooManyRequestsException
from lambdalite.mappings.batch_response import MalformedResponse, failed_items
from lambdalite.mappings.filters import FilterCriteria
from lambdalite.mappings.model import EventSourceMapping
from lambdalite.streams.entries import StreamEntry
from lambdalite.streams.failure_record import FailureCondition, LastResponse, failure_record
from lambdalite.streams.kinesis_event import encode, filter_view, kinesis_event, kinesis_record
from lambdalite.streams.location import StreamLocation
from lambdalite.streams.reader import StreamReader, start_id
from lambdalite.streams.settings import FOREVER, StreamSettings

log = logging.getLogger(__name__)

ENVELOPE_BYTES = 14  # '{"Records":[' + ']}'


class Invocation(Protocol):
    """What the poller reads of an invocation's result (the Invoker's InvocationResult)."""

    @property
    def request_id(self) -> str: ...

    @property
    def payload(self) -> bytes: ...

    @property
    def function_error(self) -> str | None: ...

    @property
    def executed_version(self) -> str: ...


# (account, function, qualifier, payload) -> result; the Invoker's `invoke`.
Invoke = Callable[[str, str, str | None, bytes], Awaitable[Invocation]]
# (account, destination ARN, record body): write a failure record; raises if it cannot.
WriteFailure = Callable[[str, str, str], Awaitable[None]]
# The function's execution role (the events' invokeIdentityArn); runs on a worker thread.
RoleOf = Callable[[EventSourceMapping], str]


@dataclass(frozen=True)
class StreamLimits:
    max_payload_bytes: int = 6 * 1024 * 1024
    idle_seconds: float = 1.0  # the longest idle wait (a new entry ends it sooner)
    pause_seconds: float = 10.0  # after Redis, the function or a destination failed
    lease_seconds: float = 30.0
    max_retry_wait_seconds: float = 60.0


@dataclass(frozen=True)
class _Discard:
    entries: list[StreamEntry]
    record: str


class RedisStreamPoller:
    def __init__(
        self,
        mapping: EventSourceMapping,
        location: StreamLocation,
        invoke: Invoke,
        write_failure: WriteFailure,
        role_of: RoleOf,
        owner: str,
        region: str,
        clock: Callable[[], float] = time.time,
        limits: StreamLimits | None = None,
    ) -> None:
        self._location = location
        self._invoke = invoke
        self._write_failure = write_failure
        self._role_of = role_of
        self._owner = owner
        self._region = region
        self._clock = clock
        self._limits = limits or StreamLimits()
        self._reader = StreamReader(location, mapping.uuid)
        self._held: list[StreamEntry] = []
        self._recovered = False  # the group's pending entries have been read back
        self._group_ready = False
        self._attempts = 0  # function errors of the batch at the head
        self._splits: list[int] = []  # sizes of bisected parts still to run
        self._window_opened: float | None = None
        self._resume_at = 0.0
        self._discarding: _Discard | None = None
        self._last_seen: str | None = None
        self._last_response: LastResponse | None = None
        self._last_request_id: str | None = None
        self.configure(mapping)

    def configure(self, mapping: EventSourceMapping) -> None:
        self.mapping = mapping
        self._settings = StreamSettings.of(mapping)
        self._filters = FilterCriteria.parse(mapping.filter_patterns)

    async def run_once(self) -> int:
        now = self._clock()
        if now < self._resume_at:
            return 0
        try:
            if not await self._reader.hold_lease(self._owner, self._limits.lease_seconds):
                # Another server reads this stream now. What was held stays pending in the
                # group: read it back (in order) if the lease comes back to this server.
                self._held, self._splits, self._attempts = [], [], 0
                self._recovered, self._window_opened = False, None
                return 0
            if not self._group_ready:
                s = self._settings
                start = start_id(s.starting_position, s.starting_timestamp, s.start_after)
                await self._reader.ensure_group(start)
                self._group_ready = True
            if self._discarding is not None and not await self._write_discard():
                return 0
            await self._fill(now)
            batch = self._batch(now)
            if not batch:
                return 0
            return await self._process(batch, now)
        except redis.RedisError as exc:
            if "NOGROUP" in str(exc):  # the stream was deleted, and its group with it
                self._group_ready, self._recovered, self._held = False, False, []
            log.warning(
                "event source mapping %s: Redis %s: %s",
                self.mapping.uuid,
                self._location.shown,
                exc,
            )
            self._resume_at = now + self._limits.pause_seconds
            return 0

    async def wait(self) -> None:
        now = self._clock()
        if now < self._resume_at:
            await asyncio.sleep(min(self._resume_at - now, self._limits.pause_seconds))
            return
        seconds = self._limits.idle_seconds
        if self._held and self._window_opened is not None and self.mapping.batching_window_s:
            closes = self._window_opened + self.mapping.batching_window_s
            await asyncio.sleep(max(0.0, min(seconds, closes - now)))
            return
        try:
            await self._reader.wait_for_new(self._last_seen or "$", seconds)
        except redis.RedisError:
            await asyncio.sleep(seconds)

    async def stop(self) -> None:
        """Held entries stay pending in the group: whoever reads it next gets them first."""
        self._held = []
        await self._reader.release_lease(self._owner)
        with contextlib.suppress(redis.RedisError):
            await self._reader.close()

    # -- reading and batching -------------------------------------------------------------
    async def _fill(self, now: float) -> None:
        want = self.mapping.batch_size - len(self._held)
        if want <= 0:
            return
        if not self._recovered:
            after = self._held[-1].id if self._held else "0"
            found = await self._reader.read_pending(after, want)
            self._recovered = len(found) < want
            self._hold(found, now)
            want -= len(found)
        if self._recovered and want > 0:
            found = await self._reader.read_new(want)
            self._hold(found, now)
            if found:
                self._last_seen = found[-1].id

    def _hold(self, entries: list[StreamEntry], now: float) -> None:
        if entries and not self._held:
            self._window_opened = now
        self._held.extend(entries)

    def _batch(self, now: float) -> list[StreamEntry]:
        """The next batch if it is due: what is held, up to the size and payload limits."""
        if not self._held:
            return []
        size = self._splits[0] if self._splits else self.mapping.batch_size
        retrying = bool(self._splits) or self._attempts > 0
        opened = self._window_opened if self._window_opened is not None else now
        window_over = now - opened >= self.mapping.batching_window_s
        if len(self._held) < size and not retrying and not window_over:
            return []
        batch = [self._held[0]]
        total = ENVELOPE_BYTES + _weight(self._held[0])
        for entry in self._held[1:size]:
            total += _weight(entry) + 1
            if total > self._limits.max_payload_bytes:
                break
            batch.append(entry)
        return batch

    # -- invoking and settling ------------------------------------------------------------
    async def _process(self, batch: list[StreamEntry], now: float) -> int:
        mapping, s = self.mapping, self._settings
        if s.maximum_record_age_s != FOREVER:
            aged = [e for e in batch if now - e.arrival > s.maximum_record_age_s]
            if aged:  # ids grow with time: the aged entries are the batch's first ones
                await self._discard(aged, FailureCondition.RECORD_AGE_EXCEEDED)
                return len(aged)
        role = await run_in_threadpool(self._role_of, mapping)
        records = {
            e.id: kinesis_record(e, self._location.key, mapping.source_arn, role, self._region)
            for e in batch
            if e.fields is not None
        }
        chosen = [
            e
            for e in batch
            if e.id in records and self._filters.matches(filter_view(records[e.id]))
        ]
        if not chosen:  # trimmed or filtered out: done without running the function
            await self._settle(batch)
            return len(batch)
        payload = kinesis_event([encode(records[e.id]) for e in chosen])
        try:
            async with self._reader.renewing(self._owner, self._limits.lease_seconds):
                result = await self._invoke(
                    mapping.account_id, mapping.function_name, mapping.qualifier, payload
                )
        except TooManyRequestsException as error:
            self._refused(error, self._limits.idle_seconds)
            return 0
        except ResourceNotFoundException as error:
            log.warning("event source mapping %s: %s", mapping.uuid, error.message)
            self._refused(error, self._limits.pause_seconds)
            return 0
        except ApiError as error:
            log.warning("event source mapping %s: %s", mapping.uuid, error.message)
            self._refused(error, self._limits.idle_seconds)
            return 0
        self._last_request_id = result.request_id
        self._last_response = LastResponse(200, result.executed_version, result.function_error)
        if result.function_error is not None:
            await self._failed(batch)
            return len(batch)
        if not mapping.reports_item_failures:
            await self._settle(batch)
            return len(batch)
        try:
            failed = failed_items(result.payload, {e.id for e in chosen})
        except MalformedResponse as error:
            log.warning("event source mapping %s: %s", mapping.uuid, error)
            await self._failed(batch)
            return len(batch)
        if not failed:
            await self._settle(batch)
            return len(batch)
        # "Lambda uses the record with the lowest sequence number as the checkpoint", and
        # retries from it: what came before is done.
        first = min((e for e in batch if e.id in failed), key=lambda e: e.order)
        done = batch[: batch.index(first)]
        attempts, response = self._attempts + 1, self._last_response
        await self._settle(done)
        self._attempts, self._last_response = attempts, response
        self._last_request_id = result.request_id
        if self._exhausted():
            await self._discard(batch[len(done) :], FailureCondition.RETRIES_EXHAUSTED)
        else:
            self._resume_at = self._clock() + self._retry_wait()
        return len(batch)

    async def _failed(self, batch: list[StreamEntry]) -> None:
        """A function error (or a malformed partial response) for the whole batch."""
        if self._settings.bisect_on_error and len(batch) > 1:
            # "Splitting batches doesn't consume the retry quota."
            half = len(batch) // 2
            rest = self._splits[1:] if self._splits else []
            self._splits = [half, len(batch) - half, *rest]
            self._attempts = 0
            return
        self._attempts += 1
        if self._exhausted():
            await self._discard(batch, FailureCondition.RETRIES_EXHAUSTED)
            return
        self._resume_at = self._clock() + self._retry_wait()

    def _exhausted(self) -> bool:
        limit = self._settings.maximum_retry_attempts
        return limit != FOREVER and self._attempts > limit

    def _retry_wait(self) -> float:
        return min(2.0 ** (self._attempts - 1), self._limits.max_retry_wait_seconds)

    def _refused(self, error: ApiError, wait: float) -> None:
        """The function was not run (throttled, gone, a platform failure): the batch is
        retried without counting an attempt, until its records age out."""
        if self._last_response is None:
            self._last_response = LastResponse(error.status, "", None)
        self._resume_at = self._clock() + wait

    async def _settle(self, entries: list[StreamEntry]) -> None:
        """Checkpoint: the entries are done with."""
        await self._reader.ack([e.id for e in entries])
        self._drop_front(len(entries))

    async def _discard(self, entries: list[StreamEntry], condition: FailureCondition) -> None:
        mapping = self.mapping
        record = failure_record(
            entries,
            request_id=self._last_request_id or str(uuid.uuid4()),
            function_arn=function_arn(
                self._region, mapping.account_id, mapping.function_name, mapping.qualifier
            ),
            condition=condition,
            invoke_count=self._attempts,
            response=self._last_response,
            stream_arn=mapping.source_arn,
            now=self._clock(),
        )
        log.warning(
            "event source mapping %s: discarding %d record(s) %s..%s (%s)",
            mapping.uuid,
            len(entries),
            entries[0].id,
            entries[-1].id,
            condition.value,
        )
        self._discarding = _Discard(entries, record)
        await self._write_discard()

    async def _write_discard(self) -> bool:
        """Send the pending failure record (if the mapping has a destination), then
        checkpoint past its entries; False while the destination refuses it."""
        pending = self._discarding
        assert pending is not None
        destination = self._settings.on_failure
        if destination is not None:
            try:
                await self._write_failure(self.mapping.account_id, destination, pending.record)
            except Exception as exc:  # the queue was deleted, the store is busy...
                log.warning(
                    "event source mapping %s: cannot write its failure record to %s: %s",
                    self.mapping.uuid,
                    destination,
                    exc,
                )
                self._resume_at = self._clock() + self._limits.pause_seconds
                return False
        self._discarding = None
        await self._settle(pending.entries)
        return True

    def _drop_front(self, count: int) -> None:
        self._held = self._held[count:]
        self._attempts = 0
        self._last_response, self._last_request_id = None, None
        while count and self._splits:
            taken = min(count, self._splits[0])
            self._splits[0] -= taken
            count -= taken
            if self._splits[0] == 0:
                self._splits.pop(0)
        if not self._held:
            self._window_opened = None


def _weight(entry: StreamEntry) -> int:
    """About what the entry adds to the event: its data in base64 and the record around
    it (a record without its data is ~450 bytes)."""
    fields = entry.fields or {}
    size = len(fields.get(b"data", b"")) or sum(len(k) + len(v) + 6 for k, v in fields.items())
    return (size * 4) // 3 + 512
