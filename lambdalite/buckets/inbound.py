"""What S3-compatible stores post to the notification webhook, taken apart.

Three envelopes arrive:
- S3's notification document, `{"Records": [...]}`: what MinIO's webhook target posts
  (with its own `EventName` and `Key` beside the records), what Ceph RGW's HTTP endpoint
  posts, and what AWS S3 puts in an SNS message;
- S3's test event, `{"Service": "Amazon S3", "Event": "s3:TestEvent", ...}`, sent when a
  configuration is saved: nothing to run;
- an SNS HTTP(S) delivery (`x-amz-sns-message-type` header; "HTTP/HTTPS notification
  JSON format"): `Notification` carries one of the above in `Message`;
  `SubscriptionConfirmation` carries the `SubscribeURL` that confirms the subscription.

Each record must name its event, bucket and key; anything else is malformed, and a
malformed body is refused whole (nothing is accepted from it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class MalformedNotification(Exception):
    pass


class InboundKind(StrEnum):
    RECORDS = "records"
    TEST = "test"
    SUBSCRIPTION = "subscription"  # an SNS SubscriptionConfirmation
    UNSUBSCRIBED = "unsubscribed"  # an SNS UnsubscribeConfirmation


@dataclass(frozen=True)
class Inbound:
    kind: InboundKind
    records: list[dict[str, Any]] = field(default_factory=list)
    subscribe_url: str | None = None
    topic_arn: str | None = None


_SNS_TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")


def parse(body: bytes, sns_message_type: str | None = None) -> Inbound:
    document = _json(body, "the body")
    if not isinstance(document, dict):
        raise MalformedNotification("The body must be a JSON object.")
    kind = sns_message_type or document.get("Type")
    if kind in _SNS_TYPES and "TopicArn" in document:
        return _sns(document, str(kind))
    return _s3(document)


def _sns(document: dict[str, Any], kind: str) -> Inbound:
    topic = document.get("TopicArn")
    if kind == "SubscriptionConfirmation":
        url = document.get("SubscribeURL")
        if not isinstance(url, str) or not url:
            raise MalformedNotification("SubscriptionConfirmation without a SubscribeURL.")
        return Inbound(InboundKind.SUBSCRIPTION, subscribe_url=url, topic_arn=str(topic))
    if kind == "UnsubscribeConfirmation":
        return Inbound(InboundKind.UNSUBSCRIBED, topic_arn=str(topic))
    message = document.get("Message")
    if not isinstance(message, str):
        raise MalformedNotification("An SNS Notification's Message must be a string.")
    inner = _json(message.encode(), "the SNS Message")
    if not isinstance(inner, dict):
        raise MalformedNotification("The SNS Message must be a JSON object.")
    found = _s3(inner)
    return Inbound(found.kind, found.records, topic_arn=str(topic))


def _s3(document: dict[str, Any]) -> Inbound:
    if document.get("Event") == "s3:TestEvent":
        return Inbound(InboundKind.TEST)
    records = document.get("Records")
    if not isinstance(records, list):
        raise MalformedNotification(
            'Not an S3 event notification: expected {"Records": [...]} (or an SNS envelope).'
        )
    for index, record in enumerate(records):
        _check_record(record, index)
    return Inbound(InboundKind.RECORDS, records)


def _check_record(record: Any, index: int) -> None:
    where = f"Records[{index}]"
    if not isinstance(record, dict):
        raise MalformedNotification(f"{where} is not an object.")
    if not isinstance(record.get("eventName"), str) or not record["eventName"]:
        raise MalformedNotification(f"{where}.eventName is missing.")
    s3 = record.get("s3")
    bucket = s3.get("bucket") if isinstance(s3, dict) else None
    obj = s3.get("object") if isinstance(s3, dict) else None
    if not isinstance(bucket, dict) or not isinstance(bucket.get("name"), str):
        raise MalformedNotification(f"{where}.s3.bucket.name is missing.")
    if not isinstance(obj, dict) or not isinstance(obj.get("key"), str):
        raise MalformedNotification(f"{where}.s3.object.key is missing.")


def _json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedNotification(f"{what} is not JSON: {exc}") from None
