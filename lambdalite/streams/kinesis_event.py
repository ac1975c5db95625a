"""The event a stream mapping hands its function, in AWS's Kinesis shape and key order
("Using AWS Lambda with Amazon Kinesis", example event; `aws-reference/events/
kinesis-batch.json`):

    {"Records": [{"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey",
                              "sequenceNumber", "data" (base64),
                              "approximateArrivalTimestamp" (epoch seconds)},
                  "eventSource": "aws:kinesis", "eventVersion": "1.0",
                  "eventID": "shardId-000000000000:<sequenceNumber>",
                  "eventName": "aws:kinesis:record", "invokeIdentityArn", "awsRegion",
                  "eventSourceARN"}, ...]}
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Sequence
from typing import Any

from lambdalite.streams.entries import StreamEntry

# A Redis stream is one shard.
SHARD_ID = "shardId-000000000000"


def kinesis_record(
    entry: StreamEntry, stream_key: str, stream_arn: str, role_arn: str, region: str
) -> dict[str, Any]:
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": entry.partition_key(stream_key),
            "sequenceNumber": entry.id,
            "data": base64.b64encode(entry.data()).decode(),
            "approximateArrivalTimestamp": entry.arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{SHARD_ID}:{entry.id}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": role_arn,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


def encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def kinesis_event(records: Sequence[bytes]) -> bytes:
    """The payload for records already encoded one by one (their sizes decide batches)."""
    return b'{"Records":[' + b",".join(records) + b"]}"


def filter_view(record: dict[str, Any]) -> dict[str, Any]:
    """What FilterCriteria patterns see ("Filtering Kinesis events"): the record's kinesis
    members at the top, `data` decoded and parsed when it is JSON (else left as base64)."""
    view = dict(record["kinesis"])
    with contextlib.suppress(ValueError):
        view["data"] = json.loads(base64.b64decode(view["data"]))
    return view
