"""The function's log output of one invocation, bounded so a flood is capped, not fatal.

The platform keeps reading the sandbox's pipe whatever the volume (a blocked pipe would
stall the function, which AWS does not do), keeps the first `limit` bytes and counts the
rest. The Invoker shows the last 4 KB with `LogType=Tail` and stores the rest under the
sandbox's log stream, both from what is kept here.
"""

from __future__ import annotations

import os

DEFAULT_LIMIT = 1024 * 1024


class LogBuffer:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._chunks: list[bytes] = []
        self._size = 0
        self.dropped = 0

    def append(self, data: bytes) -> None:
        room = self.limit - self._size
        if room <= 0:
            self.dropped += len(data)
            return
        kept = data[:room]
        self._chunks.append(kept)
        self._size += len(kept)
        self.dropped += len(data) - len(kept)

    def drain(self, fd: int) -> bool:
        """Read everything available now from a non-blocking fd; False at EOF."""
        while True:
            try:
                data = os.read(fd, 1 << 16)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return False
            if not data:
                return False
            self.append(data)

    def take(self) -> bytes:
        """The kept bytes (and a note of what was dropped), resetting the buffer."""
        data = b"".join(self._chunks)
        if self.dropped:
            note = f"\n[lambdalite] log output truncated: {self.dropped} bytes dropped\n"
            data += note.encode()
        self._chunks = []
        self._size = 0
        self.dropped = 0
        return data
