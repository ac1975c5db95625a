"""The event an SQS event source mapping hands its function, in AWS's shape and key order
("Using Lambda with Amazon SQS", example events; `aws-reference/events/sqs-batch.json`).

    {"Records": [{"messageId", "receiptHandle", "body", "attributes", "messageAttributes",
                  "md5OfMessageAttributes" (only with attributes), "md5OfBody",
                  "eventSource": "aws:sqs", "eventSourceARN", "awsRegion"}, ...]}

Message attributes take Lambda's camelCase form, with the (always empty) list members.
The payload is compact UTF-8 JSON: a `provided` runtime reads these exact bytes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from lambdalite.queues.md5 import md5_of_attributes
from lambdalite.queues.model import AttributeValue, Message, ReceivedMessage

# "Records" envelope: len('{"Records":[') + len(']}'); records are joined by commas.
ENVELOPE_BYTES = 14


def sqs_record(received: ReceivedMessage, queue_arn: str, region: str) -> dict[str, Any]:
    message = received.message
    record: dict[str, Any] = {
        "messageId": message.message_id,
        "receiptHandle": received.receipt_handle,
        "body": message.body,
        "attributes": _attributes(message),
        "messageAttributes": {
            name: _attribute(value) for name, value in message.attributes.items()
        },
    }
    digest = md5_of_attributes(message.attributes)
    if digest is not None:
        record["md5OfMessageAttributes"] = digest
    record["md5OfBody"] = message.md5_of_body
    record["eventSource"] = "aws:sqs"
    record["eventSourceARN"] = queue_arn
    record["awsRegion"] = region
    return record


def encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def sqs_event(records: Sequence[bytes]) -> bytes:
    """The payload for records already encoded one by one (their sizes decide batches)."""
    return b'{"Records":[' + b",".join(records) + b"]}"


def _attributes(message: Message) -> dict[str, str]:
    # The order of AWS's examples: a standard queue's four, with AWSTraceHeader after the
    # receive count when set; a FIFO queue's sequence number, group and deduplication id
    # interleaved as in the FIFO example.
    found: dict[str, str] = {"ApproximateReceiveCount": str(message.receive_count)}
    trace = message.system_attributes.get("AWSTraceHeader")
    if trace is not None and trace.string_value is not None:
        found["AWSTraceHeader"] = trace.string_value
    found["SentTimestamp"] = str(int(message.sent_at * 1000))
    if message.sequence_number is not None:
        found["SequenceNumber"] = message.sequence_number
    if message.group_id is not None:
        found["MessageGroupId"] = message.group_id
    found["SenderId"] = message.sender_id
    if message.deduplication_id is not None:
        found["MessageDeduplicationId"] = message.deduplication_id
    first = message.first_received_at or message.sent_at
    found["ApproximateFirstReceiveTimestamp"] = str(int(first * 1000))
    return found


def _attribute(value: AttributeValue) -> dict[str, Any]:
    rendered: dict[str, Any] = {}
    if value.binary_value is not None:
        rendered["binaryValue"] = base64.b64encode(value.binary_value).decode()
    else:
        rendered["stringValue"] = value.string_value or ""
    rendered["stringListValues"] = []
    rendered["binaryListValues"] = []
    rendered["dataType"] = value.data_type
    return rendered
