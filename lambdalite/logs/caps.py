"""FloodCaps: how much of a sandbox's output is stored, so a flood cannot fill the disk.

One token bucket per log stream (one stream is one sandbox): up to `burst_bytes` at once,
refilled at `bytes_per_second`. An invocation whose output does not fit keeps the lines
that do, in order, up to the first that does not; the rest are dropped and a marker line
in their place says how many lines and bytes went. START, END and REPORT are never
dropped nor charged: they are the platform's, bounded by the invocation rate, and
`lambdalite logs --request-id` and metering read them. The sandbox already keeps at most
1 MiB of one invocation's output (sandbox/logbuffer.py); this bounds the rate over time.
"""

from __future__ import annotations

from dataclasses import dataclass

from lambdalite.settings import LogLimits

StreamKey = tuple[str, str, str]  # account, log group, log stream
_START, _END, _REPORT = "START RequestId: ", "END RequestId: ", "REPORT RequestId: "
# Idle buckets refill to full; forgetting them then changes nothing, so check now and then.
_FORGET_EVERY_MS = 10_000


@dataclass
class _Bucket:
    tokens: float
    at_ms: int


class FloodCaps:
    def __init__(self, limits: LogLimits) -> None:
        self._rate = limits.bytes_per_second / 1000  # per millisecond
        self._burst = limits.burst_bytes
        self._limits = limits
        self._buckets: dict[StreamKey, _Bucket] = {}
        self._forgot_at = 0
        self.dropped_lines = 0
        self.dropped_bytes = 0

    def admit(self, key: StreamKey, lines: list[str], size: int, now_ms: int) -> list[str]:
        """The lines of one submission to store; `size` is their length in bytes."""
        if self._rate <= 0:
            return lines
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self._burst), now_ms)
        else:
            # A wall clock stepped back refills nothing (and is not counted twice later).
            elapsed = max(now_ms - bucket.at_ms, 0)
            bucket.tokens = min(float(self._burst), bucket.tokens + elapsed * self._rate)
            bucket.at_ms = max(bucket.at_ms, now_ms)
        platform = _platform_lines(lines)
        # Platform lines are ASCII: their characters are their bytes.
        cost = size - sum(len(lines[i]) for i in platform)
        if cost <= bucket.tokens:
            bucket.tokens -= cost
            return lines
        return self._trim(bucket, lines, platform)

    def _trim(self, bucket: _Bucket, lines: list[str], platform: set[int]) -> list[str]:
        # The marker goes where the dropped lines were: before END, or last.
        end = len(lines) - 2 if platform else len(lines)
        kept: list[str] = []
        dropped_lines = dropped_bytes = 0
        for index, line in enumerate(lines[:end]):
            cost = 0 if index in platform else len(line.encode())
            if cost <= bucket.tokens and (dropped_lines == 0 or index in platform):
                bucket.tokens -= cost
                kept.append(line)
            else:
                dropped_lines += 1
                dropped_bytes += cost
        if dropped_lines:
            self.dropped_lines += dropped_lines
            self.dropped_bytes += dropped_bytes
            kept.append(self.marker(dropped_lines, dropped_bytes))
        return kept + lines[end:]

    def marker(self, lines: int, size: int) -> str:
        return (
            f"[lambdalite] log flood: {lines} lines ({size} bytes) of output dropped; a "
            f"sandbox may log {self._limits.burst_bytes} bytes at once, then "
            f"{self._limits.bytes_per_second} bytes/s\n"
        )

    def forget_idle(self, now_ms: int) -> None:
        """Drop buckets that have refilled (their sandbox idle or gone): bounded memory."""
        if now_ms - self._forgot_at < _FORGET_EVERY_MS:
            return
        self._forgot_at = now_ms
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now_ms - bucket.at_ms) * self._rate >= self._burst
        ]
        for key in full:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


def _platform_lines(lines: list[str]) -> set[int]:
    """Indexes of this invocation's START, END and REPORT lines (the Invoker writes init
    output, START, the function's lines, END, REPORT). END and REPORT are found by place,
    the last two lines; START as the first line naming END's request id, which output
    cannot print earlier: init runs before the request exists."""
    if len(lines) < 3 or not (lines[-2].startswith(_END) and lines[-1].startswith(_REPORT)):
        return set()
    start = f"{_START}{lines[-2][len(_END) :].rstrip()} "
    for index, line in enumerate(lines[:-2]):
        if line.startswith(start):
            return {index, len(lines) - 2, len(lines) - 1}
    return set()
