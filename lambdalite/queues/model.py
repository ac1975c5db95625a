"""The queue service's records: queues, messages, and what a send or receive carries."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

FIFO_SUFFIX = ".fifo"
# What ReceiveMessage's MessageSystemAttributeNames (and the older AttributeNames) name.
SYSTEM_ATTRIBUTE_NAMES = frozenset(
    {
        "SenderId",
        "SentTimestamp",
        "ApproximateReceiveCount",
        "ApproximateFirstReceiveTimestamp",
        "SequenceNumber",
        "MessageDeduplicationId",
        "MessageGroupId",
        "AWSTraceHeader",
        "DeadLetterQueueSourceArn",
    }
)


@dataclass(frozen=True)
class QueueRef:
    """A queue by account and name: what a queue URL or ARN names."""

    account_id: str
    name: str

    def arn(self, region: str) -> str:
        return f"arn:aws:sqs:{region}:{self.account_id}:{self.name}"

    def url(self, base_url: str) -> str:
        return f"{base_url}/{self.account_id}/{self.name}"


@dataclass(frozen=True)
class RedrivePolicy:
    dead_letter_target_arn: str
    max_receive_count: int


@dataclass(frozen=True)
class Queue:
    ref: QueueRef
    created_at: float
    last_modified_at: float
    # Settable attributes as AWS spells them, defaults filled in: {"VisibilityTimeout": "30"}.
    attributes: dict[str, str]
    tags: dict[str, str]
    last_purged_at: float | None = None

    @property
    def is_fifo(self) -> bool:
        return self.ref.name.endswith(FIFO_SUFFIX)

    @property
    def visibility_timeout(self) -> int:
        return int(self.attributes["VisibilityTimeout"])

    @property
    def delay_seconds(self) -> int:
        return int(self.attributes["DelaySeconds"])

    @property
    def retention_seconds(self) -> int:
        return int(self.attributes["MessageRetentionPeriod"])

    @property
    def maximum_message_size(self) -> int:
        return int(self.attributes["MaximumMessageSize"])

    @property
    def receive_wait_seconds(self) -> int:
        return int(self.attributes["ReceiveMessageWaitTimeSeconds"])

    @property
    def content_based_deduplication(self) -> bool:
        return self.attributes.get("ContentBasedDeduplication") == "true"

    @property
    def redrive_policy(self) -> RedrivePolicy | None:
        # Stored only after attributes.py validated it.
        raw = self.attributes.get("RedrivePolicy")
        if not raw:
            return None
        policy = json.loads(raw)
        return RedrivePolicy(str(policy["deadLetterTargetArn"]), int(policy["maxReceiveCount"]))


@dataclass(frozen=True)
class AttributeValue:
    """One message attribute (or system attribute): a data type and one value."""

    data_type: str
    string_value: str | None = None
    binary_value: bytes | None = None

    def size(self, name: str) -> int:
        """What counts toward the message size: name, type and value bytes."""
        value = self.binary_value or (self.string_value or "").encode()
        return len(name.encode()) + len(self.data_type.encode()) + len(value)

    def to_store(self) -> dict[str, str]:
        if self.binary_value is not None:
            return {
                "DataType": self.data_type,
                "BinaryValue": base64.b64encode(self.binary_value).decode(),
            }
        return {"DataType": self.data_type, "StringValue": self.string_value or ""}

    @classmethod
    def from_store(cls, data: dict[str, Any]) -> AttributeValue:
        binary = data.get("BinaryValue")
        return cls(
            data["DataType"],
            data.get("StringValue"),
            base64.b64decode(binary) if binary is not None else None,
        )


@dataclass(frozen=True)
class OutgoingMessage:
    """One message as a SendMessage (or one batch entry) gives it."""

    body: str
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    system_attributes: dict[str, AttributeValue] = field(default_factory=dict)
    delay_seconds: int | None = None
    group_id: str | None = None
    deduplication_id: str | None = None


@dataclass(frozen=True)
class SendResult:
    message_id: str
    md5_of_body: str
    md5_of_attributes: str | None
    md5_of_system_attributes: str | None
    sequence_number: str | None


@dataclass(frozen=True)
class Message:
    """A stored message, as the last receive left it."""

    message_id: str
    body: str
    attributes: dict[str, AttributeValue]
    system_attributes: dict[str, AttributeValue]
    md5_of_body: str
    sender_id: str
    sent_at: float
    receive_count: int
    first_received_at: float | None
    group_id: str | None
    deduplication_id: str | None
    sequence_number: str | None
    dead_letter_source_arn: str | None


@dataclass(frozen=True)
class ReceivedMessage:
    message: Message
    receipt_handle: str


@dataclass(frozen=True)
class ReceiveRequest:
    max_messages: int = 1
    visibility_timeout: int | None = None  # None: the queue's
    wait_seconds: int | None = None  # None: the queue's ReceiveMessageWaitTimeSeconds


@dataclass(frozen=True)
class QueueCounts:
    visible: int
    in_flight: int
    delayed: int


def system_attributes(message: Message) -> dict[str, str]:
    """Every system attribute of a received message, as ReceiveMessage names them
    (timestamps in epoch milliseconds)."""
    found = {
        "SenderId": message.sender_id,
        "SentTimestamp": str(int(message.sent_at * 1000)),
        "ApproximateReceiveCount": str(message.receive_count),
        "ApproximateFirstReceiveTimestamp": str(int((message.first_received_at or 0) * 1000)),
    }
    optional = {
        "SequenceNumber": message.sequence_number,
        "MessageDeduplicationId": message.deduplication_id,
        "MessageGroupId": message.group_id,
        "DeadLetterQueueSourceArn": message.dead_letter_source_arn,
    }
    found.update({k: v for k, v in optional.items() if v is not None})
    trace = message.system_attributes.get("AWSTraceHeader")
    if trace is not None and trace.string_value is not None:
        found["AWSTraceHeader"] = trace.string_value
    return found
