"""The record a stream mapping's OnFailure destination receives for a discarded batch
("Retain discarded batch records for a Kinesis Data Streams event source"; recorded
examples agree on the key order):

    {"requestContext": {"requestId", "functionArn", "condition", "approximateInvokeCount"},
     "responseContext": {"statusCode", "executedVersion", "functionError"},
     "version": "1.0", "timestamp",
     "KinesisBatchInfo": {"shardId", "startSequenceNumber", "endSequenceNumber",
                          "approximateArrivalOfFirstRecord",
                          "approximateArrivalOfLastRecord", "batchSize", "streamArn"}}

The records themselves are not in it: read them back with XRANGE from the start to the
end sequence number. `condition` is RetryAttemptsExhausted, or MaximumRecordAgeExceeded
for records that aged out (that name is what other emulators send; AWS's page shows only
the first). A batch that never got a response has no responseContext.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lambdalite.streams.entries import StreamEntry
from lambdalite.streams.kinesis_event import SHARD_ID


class FailureCondition(StrEnum):
    RETRIES_EXHAUSTED = "RetryAttemptsExhausted"
    RECORD_AGE_EXCEEDED = "MaximumRecordAgeExceeded"


@dataclass(frozen=True)
class LastResponse:
    status_code: int
    executed_version: str
    function_error: str | None


def failure_record(
    entries: Sequence[StreamEntry],
    *,
    request_id: str,
    function_arn: str,
    condition: FailureCondition,
    invoke_count: int,
    response: LastResponse | None,
    stream_arn: str,
    now: float,
) -> str:
    first, last = entries[0], entries[-1]
    record: dict[str, Any] = {
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition.value,
            "approximateInvokeCount": invoke_count,
        }
    }
    if response is not None:
        record["responseContext"] = {
            "statusCode": response.status_code,
            "executedVersion": response.executed_version,
            "functionError": response.function_error,
        }
    record["version"] = "1.0"
    record["timestamp"] = _iso(now)
    record["KinesisBatchInfo"] = {
        "shardId": SHARD_ID,
        "startSequenceNumber": first.id,
        "endSequenceNumber": last.id,
        "approximateArrivalOfFirstRecord": _iso(first.arrival),
        "approximateArrivalOfLastRecord": _iso(last.arrival),
        "batchSize": len(entries),
        "streamArn": stream_arn,
    }
    return json.dumps(record, separators=(",", ":"))


def _iso(epoch: float) -> str:
    millis = round(epoch * 1000)
    seconds, millis = divmod(millis, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
