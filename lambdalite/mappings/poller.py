"""SqsPoller: reads one SQS event source mapping's queue and invokes its function with
batches, as AWS's pollers do ("Using Lambda with Amazon SQS").

One round (`run_once`):
    gather   receive with the queue's visibility timeout until each free slot has a
             full batch (BatchSize, or the 6 MB an invoke carries), the queue has no
             more, or the batching window of what is held ends; records the filters
             reject are deleted unseen. A standard queue is claimed for all free slots
             in one transaction; a FIFO queue one batch at a time, so that a message
             group (blocked by the queue while any of it is in flight) never spans two
             batches of one round.
    invoke   every gathered batch at once, synchronously, through the Invoker
    settle   success: delete the batch. Function error, throttle, platform error: leave
             it (it comes back when its visibility timeout runs out, and the queue's
             redrive policy moves it to the DLQ after maxReceiveCount). With
             ReportBatchItemFailures only the reported records stay; a malformed
             response fails the whole batch. The round's deletes are one transaction.

Messages held for a batching window stay in memory between rounds, invisible on the
queue; if the server dies they come back after their visibility timeout (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from lambdalite.errors import ApiError, ResourceNotFoundException, TooManyRequestsException
from lambdalite.mappings.batch_response import MalformedResponse, failed_items
from lambdalite.mappings.filters import FilterCriteria, sqs_view
from lambdalite.mappings.model import EventSourceMapping
from lambdalite.mappings.scaling import ConcurrencyScaler
from lambdalite.mappings.sqs_event import ENVELOPE_BYTES, encode, sqs_event, sqs_record
from lambdalite.queues import QueueRef, QueueService
from lambdalite.queues.errors import QueueDoesNotExist, SqsError
from lambdalite.queues.model import FIFO_SUFFIX, ReceivedMessage
from lambdalite.queues.names import parse_queue_arn

log = logging.getLogger(__name__)

MAX_RECEIVE = 10  # messages one ReceiveMessage returns at most (a FIFO batch's receive)
# Messages one claim of a standard queue takes for several batches: a bound on what one
# transaction holds (1 MiB messages: 50 MiB at worst).
MAX_CLAIM = 50


class Invocation(Protocol):
    """What the poller reads of an invocation's result (the Invoker's InvocationResult)."""

    @property
    def payload(self) -> bytes: ...

    @property
    def function_error(self) -> str | None: ...


# (account, function, qualifier, payload) -> result; the Invoker's `invoke`.
Invoke = Callable[[str, str, str | None, bytes], Awaitable[Invocation]]


@dataclass(frozen=True)
class PollerLimits:
    # Batches at once when the mapping sets no MaximumConcurrency (AWS's cap is 1,000).
    max_concurrency: int = 50
    # A batch's event never exceeds what a synchronous invoke carries.
    max_payload_bytes: int = 6 * 1024 * 1024
    # The longest idle wait: what no local send announces (another server's sends,
    # visibility timeouts running out) is seen within it.
    idle_seconds: float = 1.0
    # How long to leave a mapping alone whose function or queue has gone.
    pause_seconds: float = 10.0


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class _Held:
    """A received message, as the record the function will see."""

    received: ReceivedMessage
    encoded: bytes  # the record's JSON: its length decides where batches end

    @property
    def message_id(self) -> str:
        return self.received.message.message_id


class SqsPoller:
    def __init__(
        self,
        mapping: EventSourceMapping,
        queues: QueueService,
        invoke: Invoke,
        clock: Callable[[], float] = time.time,
        limits: PollerLimits | None = None,
    ) -> None:
        self._queues = queues
        self._invoke = invoke
        self._clock = clock
        self._limits = limits or PollerLimits()
        self._scaler = ConcurrencyScaler()
        self._held: list[_Held] = []
        self._window_opened: float | None = None
        self._resume_at = 0.0
        self.configure(mapping)

    def configure(self, mapping: EventSourceMapping) -> None:
        ref = parse_queue_arn(mapping.source_arn)
        if ref is None:  # the service only stores SQS mappings with a queue's ARN
            raise ValueError(f"not a queue ARN: {mapping.source_arn}")
        self.mapping = mapping
        self._ref: QueueRef = ref
        self._filters = FilterCriteria.parse(mapping.filter_patterns)

    async def run_once(self) -> int:
        mapping = self.mapping
        now = self._clock()
        if now < self._resume_at:
            return 0
        cap = mapping.maximum_concurrency or self._limits.max_concurrency
        slots = self._scaler.slots(cap)
        try:
            batches, drained = await run_in_threadpool(self._gather, mapping, slots, now)
        except QueueDoesNotExist:
            log.warning("event source mapping %s: queue %s does not exist", mapping.uuid, self._ref)
            self._held, self._window_opened = [], None
            self._resume_at = now + self._limits.pause_seconds
            return 0
        settled = await asyncio.gather(*(self._process(mapping, b) for b in batches))
        outcomes = [outcome for outcome, _ in settled]
        done = [held for _, finished in settled for held in finished]
        if done:
            await run_in_threadpool(self._acknowledge, done)
        self._scaler.observe(
            backlog=len(batches) == slots and not drained,
            throttled=Outcome.THROTTLED in outcomes,
            cap=cap,
            now=self._clock(),
        )
        if Outcome.THROTTLED in outcomes:
            # Leave the function alone for a moment: the next round would be refused too.
            self._resume_at = self._clock() + self._limits.idle_seconds
        return sum(len(batch) for batch in batches)

    async def wait(self) -> None:
        now = self._clock()
        if now < self._resume_at:
            await asyncio.sleep(min(self._resume_at - now, self._limits.pause_seconds))
            return
        seconds = self._limits.idle_seconds
        if self._held and self._window_opened is not None:
            closes = self._window_opened + self.mapping.batching_window_s
            seconds = max(0.0, min(seconds, closes - now))
        with self._queues.waiters.watch(self._ref) as sent, contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sent.wait(), seconds)

    async def stop(self) -> None:
        held, self._held, self._window_opened = self._held, [], None
        if held:
            await run_in_threadpool(self._release, held)

    # -- gather (on a worker thread: the queue is in the store) ------------------------
    def _gather(
        self, mapping: EventSourceMapping, slots: int, now: float
    ) -> tuple[list[list[_Held]], bool]:
        """Up to `slots` batches ready to invoke, and whether the queue ran out."""
        batches: list[list[_Held]] = []
        drained = False
        fifo = self._ref.name.endswith(FIFO_SUFFIX)
        while len(batches) < slots:
            while not drained and not self._full(mapping):
                want = mapping.batch_size - len(self._held)
                if fifo:
                    want = min(want, MAX_RECEIVE)
                else:  # this batch and the other free slots' in one claim
                    want = min(want + (slots - len(batches) - 1) * mapping.batch_size, MAX_CLAIM)
                received = self._queues.claim(self._ref, want)
                drained = len(received) < want
                self._hold(received, now)
            if self._full(mapping) or (self._held and self._window_over(mapping, now)):
                batches.append(self._take(mapping))
                if fifo and self._held:
                    # A FIFO batch cut short by the payload limit: what is left belongs to
                    # the groups just taken, and must not run beside (or, should the batch
                    # fail, before) them. Back to the queue, which holds those groups
                    # until this batch is done.
                    self._release(self._held)
                    self._held, self._window_opened = [], None
                    break
                continue
            break
        return batches, drained

    def _hold(self, received: list[ReceivedMessage], now: float) -> None:
        region = self._queues.region
        arn = self.mapping.source_arn
        rejected = []
        for message in received:
            record = sqs_record(message, arn, region)
            if not self._filters.matches(sqs_view(record)):
                rejected.append(message.receipt_handle)
                continue
            if not self._held:
                self._window_opened = now
            self._held.append(_Held(message, encode(record)))
        if rejected:
            # "Lambda event filtering": an SQS message no filter matches is deleted.
            self._queues.delete_messages(self._ref, rejected)

    def _full(self, mapping: EventSourceMapping) -> bool:
        return len(self._held) >= mapping.batch_size or self._size(self._held) >= (
            self._limits.max_payload_bytes
        )

    def _window_over(self, mapping: EventSourceMapping, now: float) -> bool:
        opened = self._window_opened
        return opened is None or now - opened >= mapping.batching_window_s

    def _take(self, mapping: EventSourceMapping) -> list[_Held]:
        """The longest run of held records that fits one batch (at least one)."""
        count = 1
        while (
            count < min(len(self._held), mapping.batch_size)
            and self._size(self._held[: count + 1]) <= self._limits.max_payload_bytes
        ):
            count += 1
        batch, self._held = self._held[:count], self._held[count:]
        if not self._held:
            self._window_opened = None
        return batch

    @staticmethod
    def _size(held: list[_Held]) -> int:
        return ENVELOPE_BYTES + sum(len(h.encoded) + 1 for h in held)

    # -- invoke and settle --------------------------------------------------------------
    async def _process(
        self, mapping: EventSourceMapping, batch: list[_Held]
    ) -> tuple[Outcome, list[_Held]]:
        """Invoke with one batch: how it went, and the records to delete."""
        payload = sqs_event([h.encoded for h in batch])
        try:
            result = await self._invoke(
                mapping.account_id, mapping.function_name, mapping.qualifier, payload
            )
        except TooManyRequestsException:
            return Outcome.THROTTLED, []
        except ResourceNotFoundException as error:
            log.warning("event source mapping %s: %s", mapping.uuid, error.message)
            self._resume_at = self._clock() + self._limits.pause_seconds
            return Outcome.FAILED, []
        except ApiError as error:
            log.warning("event source mapping %s: %s", mapping.uuid, error.message)
            return Outcome.FAILED, []
        except Exception:  # a bug of ours: the batch comes back after its timeout
            log.exception("event source mapping %s: invoking failed", mapping.uuid)
            return Outcome.FAILED, []
        if result.function_error is not None:
            return Outcome.FAILED, []
        if not mapping.reports_item_failures:
            return Outcome.DONE, batch
        try:
            failed = failed_items(result.payload, {h.message_id for h in batch})
        except MalformedResponse as error:
            log.warning("event source mapping %s: %s", mapping.uuid, error)
            return Outcome.FAILED, []
        done = [h for h in batch if h.message_id not in failed]
        return (Outcome.DONE if len(done) == len(batch) else Outcome.FAILED), done

    def _acknowledge(self, done: list[_Held]) -> None:
        with contextlib.suppress(QueueDoesNotExist):  # deleted meanwhile: nothing to delete
            self._queues.delete_messages(self._ref, [h.received.receipt_handle for h in done])

    def _release(self, held: list[_Held]) -> None:
        """Make held messages visible again at once (a disabled or stopped mapping)."""
        for item in held:
            with contextlib.suppress(SqsError):
                self._queues.change_visibility(self._ref, item.received.receipt_handle, 0)
