"""Request ids are UUID version 4 strings, as AWS's are, made from the random pool."""

from __future__ import annotations

import uuid

from lambdalite.invoke.request_ids import RequestIds


def test_ids_are_the_uuid4_of_their_random_bytes() -> None:
    ids = RequestIds()
    seen = set()
    for _ in range(600):  # past one 4 KiB pool: a refill on the way
        request_id = ids.new()
        at = ids._at - 16
        raw = ids._random[at : at + 16]
        assert request_id == str(uuid.UUID(bytes=raw, version=4))
        parsed = uuid.UUID(request_id)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        seen.add(request_id)
    assert len(seen) == 600
