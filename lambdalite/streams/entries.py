"""StreamEntry: one Redis stream entry as the poller holds it, and how it maps onto a
Kinesis record (docs/decisions/0504-redis-streams.md):

- sequenceNumber: the entry id itself ("<ms>-<n>"), so a failure record's range can be
  read back with XRANGE; order by (ms, n), not as one decimal number;
- data: the entry's `data` field, byte for byte; an entry without one is its fields as a
  JSON object (`XADD s * page /home user 7` -> {"page": "/home", "user": "7"});
- partitionKey: the entry's `partitionKey` field, else the stream's key (a Redis stream
  is one shard);
- approximateArrivalTimestamp: the id's milliseconds (ids made by `*` are the arrival
  time), in epoch seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

DATA_FIELD = b"data"
PARTITION_KEY_FIELD = b"partitionKey"


@dataclass(frozen=True)
class StreamEntry:
    id: str
    fields: dict[bytes, bytes] | None  # None: the entry was trimmed away after delivery

    @property
    def millis(self) -> int:
        return int(self.id.split("-", 1)[0])

    @property
    def arrival(self) -> float:
        """Epoch seconds."""
        return self.millis / 1000

    @property
    def order(self) -> tuple[int, int]:
        ms, _, n = self.id.partition("-")
        return int(ms), int(n or 0)

    def data(self) -> bytes:
        fields = self.fields or {}
        if DATA_FIELD in fields:
            return fields[DATA_FIELD]
        as_text = {
            k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in fields.items()
        }
        return json.dumps(as_text, separators=(",", ":"), ensure_ascii=False).encode()

    def partition_key(self, default: str) -> str:
        value = (self.fields or {}).get(PARTITION_KEY_FIELD)
        return value.decode("utf-8", "replace") if value else default
