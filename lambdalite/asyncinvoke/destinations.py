"""Destinations: which ARNs may receive invocation records, and writing records there.

lambdalite delivers to what it runs itself: its own SQS queues (standard ones: a record
has no message group) and its own functions, invoked asynchronously (the record becomes
a new Event). SNS topics, EventBridge buses, S3 buckets and Kafka are refused when a
configuration names them, so nothing accepted later has nowhere to go.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from lambdalite.asyncinvoke.model import AsyncEvent, Delivery
from lambdalite.control.functions import FunctionService
from lambdalite.errors import ApiError, InvalidParameterValueException
from lambdalite.queues import QueueService
from lambdalite.queues.errors import SqsError
from lambdalite.queues.model import AttributeValue, OutgoingMessage
from lambdalite.queues.names import parse_queue_arn

_FUNCTION_ARN = re.compile(
    r"arn:aws:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[a-zA-Z0-9_-]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]{1,128}))?"
)
# Destination kinds AWS has and lambdalite does not, by the ARN's service.
UNSUPPORTED = {
    "sns": "SNS topics",
    "events": "EventBridge event buses",
    "s3": "S3 buckets",
}


class DeliveryError(Exception):
    """A record could not be written; the event keeps it and tries again later."""


@dataclass(frozen=True)
class FunctionTarget:
    account_id: str
    name: str
    qualifier: str | None


def service_of(arn: str) -> str:
    """The service an ARN names ("sqs", "lambda", ...), or "kafka" for kafka://."""
    if arn.startswith("kafka://"):
        return "kafka"
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 and parts[0] == "arn" else ""


def unsupported(arn: str) -> str | None:
    """Why lambdalite cannot deliver to `arn`, if it is a kind AWS has and lambdalite not."""
    service = service_of(arn)
    if service == "kafka":
        return "Kafka topics"
    return UNSUPPORTED.get(service)


def parse_function_arn(arn: str) -> FunctionTarget | None:
    found = _FUNCTION_ARN.fullmatch(arn)
    if not found:
        return None
    return FunctionTarget(found["account"], found["name"], found["qualifier"])


class Destinations:
    def __init__(self, queues: QueueService, functions: FunctionService, region: str) -> None:
        self._queues = queues
        self._functions = functions
        self._region = region

    # -- checks, when a configuration names a destination ----------------------------
    def check_destination(self, account_id: str, function_name: str, arn: str) -> None:
        """An OnSuccess/OnFailure destination of `function_name` (a queue or a function)."""
        service = service_of(arn)
        if service == "sqs":
            self._check_queue(account_id, arn, "destination")
            return
        target = parse_function_arn(arn)
        if target is None or not self._is_here(arn, target.account_id, account_id):
            raise _invalid_destination(arn)
        if target.name == function_name:
            raise InvalidParameterValueException(
                "You can't specify the function as a destination for itself."
            )
        try:
            self._functions.version(account_id, target.name, target.qualifier)
        except ApiError:
            raise _invalid_destination(arn) from None

    def _check_queue(self, account_id: str, arn: str, role: str) -> None:
        check_queue(self._queues, self._region, account_id, arn, role)

    def _is_here(self, arn: str, owner: str, account_id: str) -> bool:
        return _is_here(arn, owner, account_id, self._region)

    # -- writing, when an invocation is over -----------------------------------------
    async def write(self, account_id: str, delivery: Delivery, now: float) -> AsyncEvent | None:
        """Send `delivery` to its queue; for a function, check it and return the Event to
        accept (the caller stores it with the end of the source event, atomically)."""
        if service_of(delivery.target) == "sqs":
            await run_in_threadpool(self._send, account_id, delivery)
            return None
        target = parse_function_arn(delivery.target)
        if target is None:
            raise DeliveryError(f"{delivery.target} is neither a queue nor a function")
        try:
            await run_in_threadpool(
                self._functions.version, account_id, target.name, target.qualifier
            )
        except ApiError as exc:
            raise DeliveryError(exc.message) from None
        return AsyncEvent(
            request_id=str(uuid.uuid4()),
            account_id=account_id,
            function_name=target.name,
            qualifier=target.qualifier,
            payload=delivery.body.encode(),
            enqueued_at=now,
            due_at=now,
        )

    def _send(self, account_id: str, delivery: Delivery) -> None:
        ref = parse_queue_arn(delivery.target)
        if ref is None:
            raise DeliveryError(f"{delivery.target} is not a queue ARN")
        message = OutgoingMessage(
            body=delivery.body,
            attributes={k: AttributeValue.from_store(v) for k, v in delivery.attributes.items()},
        )
        try:
            (result,) = self._queues.send(ref, account_id, [message])
        except SqsError as exc:
            raise DeliveryError(exc.message) from None
        if isinstance(result, SqsError):
            raise DeliveryError(result.message)


def dead_letter_check(queues: QueueService, region: str) -> Callable[[str, str], None]:
    """FunctionService's check of a DeadLetterConfig.TargetArn (an SQS ARN by then)."""

    def check(account_id: str, arn: str) -> None:
        check_queue(queues, region, account_id, arn, "dead-letter queue")

    return check


def check_queue(queues: QueueService, region: str, account_id: str, arn: str, role: str) -> None:
    """A queue that records can go to: a standard queue of the account, existing now."""
    ref = parse_queue_arn(arn)
    if ref is None or not _is_here(arn, ref.account_id, account_id, region):
        raise InvalidParameterValueException(f"The {role} ARN {arn} is invalid.")
    try:
        queue = queues.queue(ref)
    except SqsError:
        raise InvalidParameterValueException(
            f"The {role} {arn} does not exist: create the queue first (lambdalite delivers "
            "only to its own queues)."
        ) from None
    if queue.is_fifo:
        raise InvalidParameterValueException(
            f"The {role} {arn} is a FIFO queue: lambdalite sends records to standard queues only."
        )


def _is_here(arn: str, owner: str, account_id: str, region: str) -> bool:
    return owner == account_id and arn.split(":")[3] == region


def _invalid_destination(arn: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(f"The destination ARN {arn} is invalid.")
