"""The checks a message passes before it is sent ("SendMessage", SQS API Reference)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from lambdalite.queues.errors import (
    InvalidMessageContents,
    InvalidParameterValue,
    invalid_parameter,
    missing_parameter,
)
from lambdalite.queues.model import AttributeValue, OutgoingMessage, Queue

MAX_ATTRIBUTES = 10
# XML 1.0's characters: SQS kept its Query-era rule ("SendMessage": MessageBody).
_INVALID_CHAR = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_DATA_TYPE = re.compile(r"(String|Number|Binary)(\.[^\s]{1,250})?")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# "MessageDeduplicationId" / "MessageGroupId": alphanumerics and punctuation, 1-128.
_TOKEN = re.compile(r"[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}")


def check_message(message: OutgoingMessage, queue: Queue) -> None:
    if not message.body:
        raise missing_parameter("MessageBody")
    bad = _INVALID_CHAR.search(message.body)
    if bad:
        raise InvalidMessageContents(
            f"Invalid binary character '#x{ord(bad[0]):X}' was found in the message body, "
            "the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | "
            "#xE000 to #xFFFD | #x10000 to #x10FFFF"
        )
    check_attributes(message.attributes)
    for name, value in message.system_attributes.items():
        if (
            name != "AWSTraceHeader"
            or value.data_type != "String"
            or not value.string_value
            or _INVALID_CHAR.search(value.string_value)
        ):
            raise InvalidParameterValue(
                f"Message system attribute '{name}' is invalid: only AWSTraceHeader, "
                "a String, can be sent."
            )
    if message_size(message) > queue.maximum_message_size:
        raise InvalidParameterValue(
            "One or more parameters are invalid. Reason: Message must be shorter than "
            f"{queue.maximum_message_size} bytes."
        )
    _check_fifo_fields(message, queue)


def message_size(message: OutgoingMessage) -> int:
    return len(message.body.encode()) + sum(
        value.size(name) for name, value in message.attributes.items()
    )


def check_attributes(attributes: Mapping[str, AttributeValue]) -> None:
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidParameterValue(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed "
            f"maximum [{MAX_ATTRIBUTES}]."
        )
    for name, value in attributes.items():
        lowered = name.lower()
        if (
            not _ATTRIBUTE_NAME.fullmatch(name)
            or lowered.startswith(("aws.", "amazon."))
            or ".." in name
            or name.startswith(".")
            or name.endswith(".")
        ):
            raise InvalidParameterValue(f"Message (user) attribute name '{name}' is invalid.")
        if not _DATA_TYPE.fullmatch(value.data_type):
            raise InvalidParameterValue(
                f"The type of message (user) attribute '{name}' is invalid. You must use "
                "only the following supported type prefixes: Binary, Number, String."
            )
        if _INVALID_CHAR.search(value.data_type + (value.string_value or "")):
            raise InvalidParameterValue(
                f"Message (user) attribute '{name}' value contains invalid characters."
            )
        kind = value.data_type.split(".", 1)[0]
        if kind == "Binary":
            if not value.binary_value:
                raise _empty(name, kind)
        elif not value.string_value:
            raise _empty(name, kind)
        elif kind == "Number" and not _NUMBER.fullmatch(value.string_value):
            raise InvalidParameterValue(
                f"Can't cast the value of message (user) attribute '{name}' to a number."
            )


def _check_fifo_fields(message: OutgoingMessage, queue: Queue) -> None:
    for field, value in (
        ("MessageGroupId", message.group_id),
        ("MessageDeduplicationId", message.deduplication_id),
    ):
        if value is not None and not _TOKEN.fullmatch(value):
            raise invalid_parameter(
                field,
                value,
                f"{field} can only include alphanumeric "
                "and punctuation characters. 1 to 128 in length.",
            )
    if queue.is_fifo:
        if message.group_id is None:
            raise missing_parameter("MessageGroupId")
        if message.delay_seconds is not None:
            # "FIFO queue logic": delays apply to the whole queue, never per message.
            raise invalid_parameter(
                "DelaySeconds",
                message.delay_seconds,
                "The request include parameter that is not valid for this queue type.",
            )
        if message.deduplication_id is None and not queue.content_based_deduplication:
            raise InvalidParameterValue(
                "The queue should either have ContentBasedDeduplication enabled or "
                "MessageDeduplicationId provided explicitly"
            )
    elif message.deduplication_id is not None:
        raise invalid_parameter(
            "MessageDeduplicationId",
            message.deduplication_id,
            "The request include parameter that is not valid for this queue type.",
        )
    if message.delay_seconds is not None and not 0 <= message.delay_seconds <= 900:
        raise invalid_parameter(
            "DelaySeconds", message.delay_seconds, "Must be >= 0 and <= 900, if provided."
        )


def _empty(name: str, kind: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"The message attribute '{name}' must contain non-empty message attribute value "
        f"for message attribute type '{kind}'."
    )
