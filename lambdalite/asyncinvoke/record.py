"""What a finished invocation sends: the invocation record of a destination, or the
dead-letter message.

Invocation record ("Capturing records of Lambda asynchronous invocations"; samples in
aws-reference/events/async-destination-*.json): version "1.0", a millisecond UTC
timestamp, requestContext (the function ARN qualified with the version that ran), the
request payload, responseContext (`functionError` only on failure) and the response.

Dead-letter queue ("Adding a dead-letter queue"): the original event as the body, with
message attributes RequestID (String), ErrorCode (Number, the response's HTTP status)
and ErrorMessage (String, the first 1 KB of the error message).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from lambdalite.asyncinvoke.model import AsyncEvent, Condition, Delivery, Response

MAX_DEAD_LETTER_ERROR_BYTES = 1024


def invocation_record(
    event: AsyncEvent, condition: Condition, response: Response, function_arn: str, now: float
) -> str:
    """The record as JSON text, keys in AWS's order. `function_arn` is qualified."""
    context: dict[str, Any] = {
        "statusCode": response.status_code,
        "executedVersion": response.executed_version,
    }
    if response.function_error:
        context["functionError"] = response.function_error
    record = {
        "version": "1.0",
        "timestamp": _timestamp(now),
        "requestContext": {
            "requestId": event.request_id,
            "functionArn": function_arn,
            "condition": condition.value,
            "approximateInvokeCount": event.invoke_count,
        },
        "requestPayload": _json_or_text(event.payload.decode("utf-8", errors="replace")),
        "responseContext": context,
        "responsePayload": _json_or_text(response.payload),
    }
    return json.dumps(record)


def dead_letter_message(event: AsyncEvent, response: Response, target: str) -> Delivery:
    error = _json_or_text(response.payload)
    message = error.get("errorMessage") if isinstance(error, dict) else None
    if not isinstance(message, str) or not message:
        message = response.payload or response.function_error or "Unhandled"
    return Delivery(
        target,
        event.payload.decode("utf-8", errors="replace"),
        {
            "RequestID": {"DataType": "String", "StringValue": event.request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": str(response.status_code)},
            "ErrorMessage": {"DataType": "String", "StringValue": _first_kilobyte(message)},
        },
    )


def _timestamp(now: float) -> str:
    """ISO 8601 in UTC with milliseconds and a Z: 2025-03-01T12:35:01.123Z."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _json_or_text(text: str) -> Any:
    """A payload as the record carries it: parsed JSON, else the text; nothing is null."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _first_kilobyte(text: str) -> str:
    encoded = text.encode()
    if len(encoded) <= MAX_DEAD_LETTER_ERROR_BYTES:
        return text
    return encoded[:MAX_DEAD_LETTER_ERROR_BYTES].decode("utf-8", errors="ignore")
