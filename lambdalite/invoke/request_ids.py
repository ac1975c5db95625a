"""RequestIds: AWS-style request ids (UUID version 4) for invocations.

`uuid.uuid4()` asks the kernel for 16 random bytes per id. The getrandom call releases
the GIL, and under load the event loop then waits to get it back from whichever thread
holds it (the log writer, a store read). Taking 4 KiB at a time makes that once per 256
invocations. The ids stay unpredictable: every byte comes from os.urandom.
"""

from __future__ import annotations

import os

_BATCH = 4096


class RequestIds:
    def __init__(self) -> None:
        self._random = b""
        self._at = _BATCH

    def new(self) -> str:
        at = self._at
        if at + 16 > len(self._random):
            self._random, at = os.urandom(_BATCH), 0
        self._at = at + 16
        # uuid.UUID(bytes=..., version=4) and str() of it, without the class (a third
        # of the time): the version nibble is 4, the variant bits are 10.
        raw = self._random
        h = raw[at : at + 8].hex()
        variant = (raw[at + 8] & 0x3F) | 0x80
        rest = raw[at + 9 : at + 16].hex()
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant:02x}{rest[:2]}-{rest[2:]}"
