"""The event a bucket notification hands its function, in AWS's shape and key order
("Using AWS Lambda with Amazon S3"; "Event message structure" in the S3 User Guide;
`aws-reference/events/s3-put.json`).

    {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion",
                  "eventTime", "eventName", "userIdentity", "requestParameters",
                  "responseElements", "s3": {"s3SchemaVersion": "1.0", "configurationId",
                  "bucket": {"name", "ownerIdentity", "arn"},
                  "object": {"key", "size", "eTag", "sequencer"}}}]}

S3 sends one record per event. A removal's object has only `key` and `sequencer` (S3
omits size and eTag for ObjectRemoved events). Principal ids are lambdalite's account
ids: there is no IAM.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

from lambdalite.buckets.model import Bucket, ChangeKind, ObjectChange
from lambdalite.buckets.names import encoded_key

# A sequencer's width: AWS's examples have 18 hex digits; comparing two of one key is by
# value, so a fixed width keeps string and numeric order the same.
SEQUENCER_DIGITS = 18


def s3_record(
    bucket: Bucket, change: ObjectChange, configuration_id: str, sequence: int, region: str
) -> dict[str, Any]:
    principal = f"AWS:{change.principal or bucket.account_id}"
    obj: dict[str, Any] = {"key": encoded_key(change.key)}
    if change.kind is ChangeKind.PUT and change.state is not None:
        obj["size"] = change.state.size
        obj["eTag"] = change.etag
    obj["sequencer"] = sequencer(sequence)
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": event_time(change.event_time),
        "eventName": change.kind.value,
        "userIdentity": {"principalId": principal},
        "requestParameters": {"sourceIPAddress": change.source_ip},
        "responseElements": {
            "x-amz-request-id": os.urandom(8).hex().upper(),
            "x-amz-id-2": base64.b64encode(os.urandom(48)).decode(),
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": bucket.name,
                "ownerIdentity": {"principalId": bucket.account_id},
                "arn": bucket.arn,
            },
            "object": obj,
        },
    }


def s3_event(record: dict[str, Any]) -> bytes:
    return json.dumps({"Records": [record]}, separators=(",", ":")).encode()


def sequencer(sequence: int) -> str:
    return f"{sequence:0{SEQUENCER_DIGITS}X}"


def event_time(epoch: float) -> str:
    """ISO 8601 in UTC with milliseconds, as S3 writes it: 2025-03-01T12:34:56.789Z."""
    whole = int(epoch)
    millis = round((epoch - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"
