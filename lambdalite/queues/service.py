"""QueueService: SQS's semantics over the store, on an injectable clock.

Every time that matters (delays, visibility timeouts, retention, deduplication windows,
timestamps) comes from `clock`, so tests drive it by hand. Only long polling waits in
real time, on the event loop: it never blocks a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections.abc import Callable, Sequence

import anyio.to_thread
from sqlalchemy.exc import IntegrityError

from lambdalite.queues import attributes as queue_attributes
from lambdalite.queues.contents import check_message
from lambdalite.queues.errors import (
    InvalidParameterValue,
    MessageNotInflight,
    PurgeQueueInProgress,
    QueueDeletedRecently,
    QueueDoesNotExist,
    QueueNameExists,
    ReceiptHandleIsInvalid,
    SqsError,
    invalid_parameter,
)
from lambdalite.queues.md5 import md5_of_attributes, md5_of_body
from lambdalite.queues.message_store import (
    MessageStore,
    NewMessage,
    Outcome,
    Redrive,
)
from lambdalite.queues.model import (
    FIFO_SUFFIX,
    OutgoingMessage,
    Queue,
    QueueRef,
    ReceivedMessage,
    ReceiveRequest,
    SendResult,
)
from lambdalite.queues.names import check_queue_name, parse_queue_arn
from lambdalite.queues.queue_store import NameResting, QueueStore
from lambdalite.queues.receipts import Receipt, parse_receipt
from lambdalite.queues.waiters import QueueWaiters
from lambdalite.store.database import Database

DEDUPLICATION_WINDOW_SECONDS = 300.0  # "Exactly-once processing in Amazon SQS"
PURGE_INTERVAL_SECONDS = 60.0  # "PurgeQueue"
# "DeleteQueue": "you must wait at least 60 seconds before creating a queue with the same
# name" (AWS.SimpleQueueService.QueueDeletedRecently).
NAME_REST_SECONDS = 60.0
MAX_WAIT_SECONDS = 20
MAX_VISIBILITY_TIMEOUT = 43_200


class QueueService:
    def __init__(
        self,
        db: Database,
        region: str,
        clock: Callable[[], float] = time.time,
        recheck_interval_s: float = 1.0,
    ) -> None:
        self._queues = QueueStore(db)
        self._messages = MessageStore(db)
        self._region = region
        self._clock = clock
        self._recheck_interval_s = recheck_interval_s
        self.waiters = QueueWaiters()

    @property
    def region(self) -> str:
        return self._region

    # -- queues -----------------------------------------------------------------------
    def create_queue(
        self, account_id: str, name: str, attributes: dict[str, str], tags: dict[str, str]
    ) -> Queue:
        """A new queue, or the existing one when every given attribute matches
        ("CreateQueue": otherwise QueueNameExists)."""
        check_queue_name(name)
        fifo = name.endswith(FIFO_SUFFIX)
        wanted = queue_attributes.initial_attributes(attributes, fifo)
        ref = QueueRef(account_id, name)
        self._check_redrive(ref, wanted.get("RedrivePolicy"), fifo)
        now = self._clock()
        try:
            queue = self._queues.create(Queue(ref, now, now, wanted, dict(tags)), NAME_REST_SECONDS)
        except NameResting:
            raise QueueDeletedRecently(
                "You must wait 60 seconds after deleting a queue before you can create "
                "another with the same name."
            ) from None
        given = queue_attributes.checked_changes(
            {k: v for k, v in attributes.items() if k != "FifoQueue"}, fifo
        )
        differing = sorted(k for k, v in given.items() if queue.attributes.get(k, "") != v)
        if differing:
            raise QueueNameExists(
                "A queue already exists with the same name and a different value for "
                f"attribute(s) {', '.join(differing)}"
            )
        return queue

    def queue(self, ref: QueueRef) -> Queue:
        queue = self._queues.get(ref)
        if queue is None:
            raise QueueDoesNotExist()
        return queue

    def list_queues(self, account_id: str, prefix: str = "") -> list[Queue]:
        return self._queues.in_account(account_id, prefix)

    def delete_queue(self, ref: QueueRef) -> None:
        if not self._queues.delete(ref, self._clock()):
            raise QueueDoesNotExist()

    def attributes(self, ref: QueueRef, names: Sequence[str]) -> dict[str, str]:
        queue = self.queue(ref)
        counts = self._messages.counts(ref, self._clock(), queue.retention_seconds)
        return queue_attributes.render(queue, names, counts, self._region)

    def set_attributes(self, ref: QueueRef, changes: dict[str, str]) -> None:
        queue = self.queue(ref)
        checked = queue_attributes.checked_changes(changes, queue.is_fifo)
        self._check_redrive(ref, checked.get("RedrivePolicy"), queue.is_fifo)
        if not self._queues.update_attributes(ref, checked, self._clock()):
            raise QueueDoesNotExist()

    def dead_letter_sources(self, ref: QueueRef) -> list[Queue]:
        """The account's queues whose RedrivePolicy targets `ref`."""
        self.queue(ref)
        target = ref.arn(self._region)
        return [
            queue
            for queue in self._queues.in_account(ref.account_id)
            if (policy := queue.redrive_policy) and policy.dead_letter_target_arn == target
        ]

    def tags(self, ref: QueueRef) -> dict[str, str]:
        return self.queue(ref).tags

    def tag(self, ref: QueueRef, tags: dict[str, str]) -> None:
        if not self._queues.update_tags(ref, tags, []):
            raise QueueDoesNotExist()

    def untag(self, ref: QueueRef, keys: list[str]) -> None:
        if not self._queues.update_tags(ref, {}, keys):
            raise QueueDoesNotExist()

    def purge(self, ref: QueueRef) -> None:
        outcome = self._messages.purge(ref, self._clock(), PURGE_INTERVAL_SECONDS)
        if outcome is Outcome.MISSING:
            raise QueueDoesNotExist()
        if outcome is Outcome.BUSY:
            raise PurgeQueueInProgress(
                f"Only one PurgeQueue operation on {ref.name} is allowed every "
                f"{int(PURGE_INTERVAL_SECONDS)} seconds."
            )

    # -- messages ---------------------------------------------------------------------
    def send(
        self, ref: QueueRef, sender_id: str, messages: Sequence[OutgoingMessage]
    ) -> list[SendResult | SqsError]:
        """Check each message, store the good ones in one transaction, then wake the
        queue's receivers. One result per message, in order: its receipt or its error."""
        queue = self.queue(ref)
        now = self._clock()
        results: list[SendResult | SqsError] = []
        ready: list[tuple[int, NewMessage, SendResult]] = []
        for index, message in enumerate(messages):
            try:
                check_message(message, queue)
            except SqsError as error:
                results.append(error)
                continue
            new, result = self._new_message(queue, sender_id, message, now)
            ready.append((index, new, result))
            results.append(result)
        if ready:
            try:
                stored = self._messages.add(
                    ref,
                    [new for _, new, _ in ready],
                    now,
                    queue.is_fifo,
                    DEDUPLICATION_WINDOW_SECONDS,
                )
            except IntegrityError:
                if self._queues.get(ref) is None:  # deleted since we read it
                    raise QueueDoesNotExist() from None
                raise
            for (index, _, result), kept in zip(ready, stored, strict=True):
                results[index] = SendResult(
                    kept.message_id,
                    result.md5_of_body,
                    result.md5_of_attributes,
                    result.md5_of_system_attributes,
                    kept.sequence_number,
                )
            self.waiters.notify(ref)
        return results

    def receive_now(self, ref: QueueRef, request: ReceiveRequest) -> list[ReceivedMessage]:
        """One receive attempt, without waiting."""
        _check_receive(request)
        return self.claim(ref, request.max_messages, request.visibility_timeout)

    def claim(
        self, ref: QueueRef, max_messages: int, visibility_timeout: int | None = None
    ) -> list[ReceivedMessage]:
        """`receive_now` in one transaction of up to `max_messages`, past ReceiveMessage's
        10: an event source poller filling several batches at once."""
        queue = self.queue(ref)
        policy = queue.redrive_policy
        redrive = None
        if policy is not None:
            target = parse_queue_arn(policy.dead_letter_target_arn)
            if target is not None and target.account_id == ref.account_id:
                redrive = Redrive(
                    target,
                    policy.max_receive_count,
                    ref.arn(self._region),
                    reset_sent_at=queue.is_fifo,
                )
        visibility = queue.visibility_timeout if visibility_timeout is None else visibility_timeout
        claim = self._messages.claim(
            ref,
            self._clock(),
            max_messages,
            visibility,
            queue.retention_seconds,
            queue.is_fifo,
            redrive,
        )
        if claim.moved and redrive is not None:
            self.waiters.notify(redrive.target)
        return [
            ReceivedMessage(message, Receipt(ref, message.message_id, nonce).handle())
            for message, nonce in claim.messages
        ]

    async def receive(self, ref: QueueRef, request: ReceiveRequest) -> list[ReceivedMessage]:
        """ReceiveMessage: returns as soon as a message is there, or after the wait time
        (the request's WaitTimeSeconds, else the queue's ReceiveMessageWaitTimeSeconds)."""
        _check_receive(request)
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while True:
            with self.waiters.watch(ref) as sent:
                # Watch before looking, so a send between the look and the wait wakes us.
                found = await anyio.to_thread.run_sync(self.receive_now, ref, request)
                if found:
                    return found
                if deadline is None:
                    wait = request.wait_seconds
                    if wait is None:
                        queue = await anyio.to_thread.run_sync(self.queue, ref)
                        wait = queue.receive_wait_seconds
                    deadline = loop.time() + wait
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(sent.wait(), min(remaining, self._recheck_interval_s))

    def delete_message(self, ref: QueueRef, handle: str) -> None:
        self.queue(ref)
        receipt = parse_receipt(handle, ref)
        self._messages.delete(ref, receipt.message_id, receipt.nonce)

    def delete_messages(self, ref: QueueRef, handles: Sequence[str]) -> None:
        """Delete received messages in one transaction (a poller acknowledging a batch);
        as DeleteMessage, a stale handle deletes nothing and is no error."""
        self.queue(ref)
        receipts = [parse_receipt(handle, ref) for handle in handles]
        self._messages.delete_many(ref, [(r.message_id, r.nonce) for r in receipts])

    def change_visibility(self, ref: QueueRef, handle: str, timeout: int) -> None:
        self.queue(ref)
        receipt = parse_receipt(handle, ref)
        if not 0 <= timeout <= MAX_VISIBILITY_TIMEOUT:
            raise invalid_parameter(
                "VisibilityTimeout", timeout, f"Must be >= 0 and <= {MAX_VISIBILITY_TIMEOUT}."
            )
        outcome = self._messages.change_visibility(
            ref, receipt.message_id, receipt.nonce, timeout, self._clock()
        )
        if outcome is Outcome.MISSING:
            raise invalid_parameter(
                "ReceiptHandle",
                handle,
                "Message does not exist or is not available for visibility timeout change.",
            )
        if outcome is Outcome.STALE:
            raise ReceiptHandleIsInvalid(
                f'The receipt handle "{handle}" is not the latest receive of its message.'
            )
        if outcome is Outcome.NOT_IN_FLIGHT:
            raise MessageNotInflight("The message referred to isn't in flight.")

    # -- background -------------------------------------------------------------------
    async def run_once(self, now: float | None = None) -> int:
        """Delete messages past their queue's MessageRetentionPeriod; returns how many.
        The server runs it on a BackgroundLoop; tests call it with their own `now`."""
        return await anyio.to_thread.run_sync(self.expire, now)

    def expire(self, now: float | None = None) -> int:
        moment = self._clock() if now is None else now
        retention = {q.ref: q.retention_seconds for q in self._queues.all()}
        return self._messages.expire(moment, retention)

    # -- helpers ----------------------------------------------------------------------
    def _new_message(
        self, queue: Queue, sender_id: str, message: OutgoingMessage, now: float
    ) -> tuple[NewMessage, SendResult]:
        delay = queue.delay_seconds if message.delay_seconds is None else message.delay_seconds
        dedup_id = message.deduplication_id
        if queue.is_fifo and dedup_id is None:
            # ContentBasedDeduplication: "a SHA-256 hash ... using the body of the message".
            dedup_id = hashlib.sha256(message.body.encode()).hexdigest()
        new = NewMessage(
            message_id=str(uuid.uuid4()),
            body=message.body,
            attributes={k: v.to_store() for k, v in message.attributes.items()},
            system_attributes={k: v.to_store() for k, v in message.system_attributes.items()},
            md5_of_body=md5_of_body(message.body),
            md5_of_attributes=md5_of_attributes(message.attributes),
            sender_id=sender_id,
            visible_at=now + delay,
            group_id=message.group_id,
            deduplication_id=dedup_id,
        )
        result = SendResult(
            new.message_id,
            new.md5_of_body,
            new.md5_of_attributes,
            md5_of_attributes(message.system_attributes),
            None,
        )
        return new, result

    def _check_redrive(self, ref: QueueRef, raw: str | None, fifo: bool) -> None:
        """ "Dead-letter target does not exist" unless it is a queue of the same account
        and the same type ("Using dead-letter queues in Amazon SQS")."""
        if not raw:
            return
        arn = queue_attributes.parse_redrive_policy(raw).dead_letter_target_arn
        target = parse_queue_arn(arn)
        queue = self._queues.get(target) if target and target.account_id == ref.account_id else None
        if queue is None:
            raise invalid_parameter("RedrivePolicy", raw, "Dead-letter target does not exist.")
        if queue.is_fifo != fifo:
            raise InvalidParameterValue(
                f"Value {raw} for parameter RedrivePolicy is invalid. Reason: Dead-letter "
                "queue must be same type of queue as the source."
            )


def _check_receive(request: ReceiveRequest) -> None:
    if not 1 <= request.max_messages <= 10:
        raise invalid_parameter(
            "MaxNumberOfMessages", request.max_messages, "Must be between 1 and 10, if provided."
        )
    wait = request.wait_seconds
    if wait is not None and not 0 <= wait <= MAX_WAIT_SECONDS:
        raise invalid_parameter(
            "WaitTimeSeconds", wait, f"Must be >= 0 and <= {MAX_WAIT_SECONDS}, if provided."
        )
    timeout = request.visibility_timeout
    if timeout is not None and not 0 <= timeout <= MAX_VISIBILITY_TIMEOUT:
        raise invalid_parameter(
            "VisibilityTimeout",
            timeout,
            f"Must be >= 0 and <= {MAX_VISIBILITY_TIMEOUT}, if provided.",
        )
