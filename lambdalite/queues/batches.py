"""The rules a batch request meets as a whole before any entry is tried ("Amazon SQS
batch actions"): 1 to 10 entries, distinct well-formed ids, and for SendMessageBatch a
total payload within 1 MiB. A batch that breaks one is refused entire; one that meets
them succeeds or fails entry by entry."""

from __future__ import annotations

import re
from collections.abc import Sequence

from lambdalite.queues.contents import message_size
from lambdalite.queues.errors import (
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    TooManyEntriesInBatchRequest,
)
from lambdalite.queues.model import OutgoingMessage

MAX_ENTRIES = 10
# "SendMessageBatch": the sum of the messages' sizes, 1 MiB since 2025 (was 256 KiB).
MAX_TOTAL_BYTES = 1_048_576
_ENTRY_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")


def check_batch_ids(ids: Sequence[str], entry_shape: str) -> None:
    if not ids:
        raise EmptyBatchRequest(f"There should be at least one {entry_shape} in the request.")
    if len(ids) > MAX_ENTRIES:
        raise TooManyEntriesInBatchRequest(
            f"Maximum number of entries per request are {MAX_ENTRIES}. You have sent {len(ids)}."
        )
    seen: set[str] = set()
    for entry_id in ids:
        if not _ENTRY_ID.fullmatch(entry_id):
            raise InvalidBatchEntryId(
                "A batch entry id can only contain alphanumeric characters, hyphens and "
                "underscores. It can be at most 80 letters long."
            )
        if entry_id in seen:
            raise BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
        seen.add(entry_id)


def check_batch_size(messages: Sequence[OutgoingMessage]) -> None:
    if sum(message_size(m) for m in messages) > MAX_TOTAL_BYTES:
        raise BatchRequestTooLong(
            "Batch requested message too long. Total size of all entries must be less "
            f"than {MAX_TOTAL_BYTES} bytes."
        )
