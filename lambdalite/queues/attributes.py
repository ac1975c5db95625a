"""Queue attributes: defaults, the checks CreateQueue and SetQueueAttributes apply, and
what GetQueueAttributes returns ("SetQueueAttributes" and "CreateQueue", SQS API
Reference)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from lambdalite.queues.errors import InvalidAttributeName, InvalidAttributeValue, invalid_parameter
from lambdalite.queues.model import Queue, QueueCounts, RedrivePolicy

# name -> (min, max) of the integer attributes.
_RANGES: dict[str, tuple[int, int]] = {
    "VisibilityTimeout": (0, 43_200),
    "DelaySeconds": (0, 900),
    # 1 MiB since 2025 (was 256 KiB): "SetQueueAttributes", MaximumMessageSize.
    "MaximumMessageSize": (1_024, 1_048_576),
    "MessageRetentionPeriod": (60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400),
}
_BOOLEANS = {"SqsManagedSseEnabled", "ContentBasedDeduplication", "FifoQueue"}
# Kept and returned as given: lambdalite enforces no IAM policy and encrypts nothing.
_OPAQUE = {"Policy", "RedriveAllowPolicy", "KmsMasterKeyId"}
_FIFO_ONLY = {"ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
_FIFO_CHOICES = {
    "DeduplicationScope": ("messageGroup", "queue"),
    "FifoThroughputLimit": ("perQueue", "perMessageGroupId"),
}
SETTABLE = frozenset({*_RANGES, *_BOOLEANS, *_OPAQUE, *_FIFO_ONLY, "RedrivePolicy"} - {"FifoQueue"})
COMPUTED = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
)

DEFAULTS = {
    "VisibilityTimeout": "30",
    "DelaySeconds": "0",
    "MaximumMessageSize": "1048576",
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "SqsManagedSseEnabled": "true",
}
FIFO_DEFAULTS = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}
MAX_RECEIVE_COUNT = 1_000


def initial_attributes(given: Mapping[str, str], fifo: bool) -> dict[str, str]:
    """A new queue's attributes: defaults, then the given ones, checked."""
    fifo_flag = given.get("FifoQueue", "false").lower()
    if fifo_flag not in ("true", "false"):
        raise _bad_value("FifoQueue")
    if (fifo_flag == "true") != fifo:
        # "CreateQueue": a FIFO queue's name must end with .fifo, and only a FIFO queue's.
        raise InvalidAttributeValue(
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, "
            "or underscores, must end with .fifo suffix."
            if fifo_flag == "true"
            else "Can only include alphanumeric characters, hyphens, or underscores. "
            "1 to 80 in length"
        )
    attributes = {**DEFAULTS, **(FIFO_DEFAULTS if fifo else {})}
    changes = {k: v for k, v in given.items() if k != "FifoQueue"}
    attributes.update(checked_changes(changes, fifo))
    return {k: v for k, v in attributes.items() if v != ""}


def checked_changes(changes: Mapping[str, str], fifo: bool) -> dict[str, str]:
    """SetQueueAttributes' values, normalised; "" clears RedrivePolicy and the opaque ones."""
    checked: dict[str, str] = {}
    for name, value in changes.items():
        if name not in SETTABLE or (name in _FIFO_ONLY and not fifo):
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        checked[name] = _checked(name, value)
    return checked


def parse_redrive_policy(raw: str) -> RedrivePolicy:
    try:
        policy = json.loads(raw)
    except ValueError:
        policy = None
    if not isinstance(policy, dict):
        raise invalid_parameter("RedrivePolicy", raw, "Redrive policy is not a valid JSON map.")
    arn = policy.get("deadLetterTargetArn")
    count = policy.get("maxReceiveCount")
    if not isinstance(arn, str) or count is None:
        raise invalid_parameter(
            "RedrivePolicy",
            raw,
            "Redrive policy must contain deadLetterTargetArn and maxReceiveCount.",
        )
    try:
        number = int(str(count))
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_RECEIVE_COUNT:
        raise invalid_parameter(
            "RedrivePolicy",
            raw,
            f"Invalid value for maxReceiveCount: {count}, valid values are from 1 to "
            f"{MAX_RECEIVE_COUNT} both inclusive.",
        )
    return RedrivePolicy(arn, number)


def render(queue: Queue, names: Iterable[str], counts: QueueCounts, region: str) -> dict[str, str]:
    """GetQueueAttributes: the named attributes ("All" for every one) the queue has."""
    wanted = set(names)
    every = "All" in wanted
    computed = {
        "ApproximateNumberOfMessages": str(counts.visible),
        "ApproximateNumberOfMessagesNotVisible": str(counts.in_flight),
        "ApproximateNumberOfMessagesDelayed": str(counts.delayed),
        "CreatedTimestamp": str(int(queue.created_at)),
        "LastModifiedTimestamp": str(int(queue.last_modified_at)),
        "QueueArn": queue.ref.arn(region),
    }
    everything = {**queue.attributes, **computed}
    return {k: v for k, v in everything.items() if every or k in wanted}


def _checked(name: str, value: str) -> str:
    if name in _RANGES:
        low, high = _RANGES[name]
        if not value.strip().lstrip("-").isdigit() or not low <= int(value) <= high:
            raise _bad_value(name)
        return str(int(value))
    if name in _BOOLEANS:
        if value.lower() not in ("true", "false"):
            raise _bad_value(name)
        return value.lower()
    if name in _FIFO_CHOICES:
        if value not in _FIFO_CHOICES[name]:
            raise _bad_value(name)
        return value
    if name == "RedrivePolicy":
        if value == "":
            return ""
        policy = parse_redrive_policy(value)
        # AWS answers the normalised JSON, maxReceiveCount as a number.
        return json.dumps(
            {
                "deadLetterTargetArn": policy.dead_letter_target_arn,
                "maxReceiveCount": policy.max_receive_count,
            },
            separators=(",", ":"),
        )
    return value


def _bad_value(name: str) -> InvalidAttributeValue:
    return InvalidAttributeValue(f"Invalid value for the parameter {name}.")
