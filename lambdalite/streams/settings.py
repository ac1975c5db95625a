"""StreamSettings: what a stream mapping keeps in `source_settings`, under AWS's member
names, read back with AWS's defaults ("CreateEventSourceMapping")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambdalite.mappings.model import EventSourceMapping

DEFAULT_BATCH_SIZE = 100  # Kinesis's default BatchSize
FOREVER = -1  # MaximumRetryAttempts / MaximumRecordAgeInSeconds: no limit (the default)


@dataclass(frozen=True)
class StreamSettings:
    starting_position: str
    starting_timestamp: float | None
    start_after: str | None  # a LATEST mapping's newest id when it was created
    maximum_retry_attempts: int
    maximum_record_age_s: int
    bisect_on_error: bool
    on_failure: str | None  # a queue ARN

    @classmethod
    def of(cls, mapping: EventSourceMapping) -> StreamSettings:
        s: dict[str, Any] = mapping.source_settings
        destination = s.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        return cls(
            starting_position=s.get("StartingPosition", "TRIM_HORIZON"),
            starting_timestamp=s.get("StartingPositionTimestamp"),
            start_after=s.get("StartAfter"),
            maximum_retry_attempts=s.get("MaximumRetryAttempts", FOREVER),
            maximum_record_age_s=s.get("MaximumRecordAgeInSeconds", FOREVER),
            bisect_on_error=bool(s.get("BisectBatchOnFunctionError", False)),
            on_failure=destination or None,
        )
