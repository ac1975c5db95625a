"""A function's partial batch response, read as AWS reads it ("Using Lambda with Amazon
SQS", "Reporting batch item failures"):

- a null or empty response, or an empty or null `batchItemFailures`: every record
  succeeded;
- `{"batchItemFailures": [{"itemIdentifier": "<messageId>"}, ...]}`: those records failed,
  the rest succeeded;
- anything else (not JSON, not an object, an identifier that is empty, null, under
  another key, or names no record of the batch): the response is malformed and the
  whole batch failed.
"""

from __future__ import annotations

import json
from collections.abc import Collection


class MalformedResponse(Exception):
    pass


def failed_items(payload: bytes, batch_ids: Collection[str]) -> set[str]:
    """The ids of the records that failed; MalformedResponse fails them all."""
    if not payload.strip():
        return set()
    try:
        response = json.loads(payload)
    except ValueError:
        raise MalformedResponse("the response is not JSON") from None
    if response is None:
        return set()
    if not isinstance(response, dict):
        raise MalformedResponse("the response is not a JSON object")
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        raise MalformedResponse("batchItemFailures is not a list")
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or not identifier:
            raise MalformedResponse(f"invalid batch item failure {failure!r}")
        if identifier not in batch_ids:
            raise MalformedResponse(f"itemIdentifier {identifier!r} is not in the batch")
        failed.add(identifier)
    return failed
