"""RetryPolicy: how long an event waits before its next attempt.

"Configuring error handling for asynchronous invocation" (Lambda Developer Guide): after a
function error Lambda waits about one minute, then two, between its up to three runs;
after a throttle or a platform error it retries "with exponential backoff" from one
second up to five minutes, until the event's maximum age. The same exponential wait
applies here when a destination cannot be written. `scale` shrinks every wait (tests).
"""

from __future__ import annotations

from dataclasses import dataclass

FUNCTION_ERROR_WAITS = (60.0, 120.0)
FIRST_FAILURE_WAIT = 1.0
MAX_FAILURE_WAIT = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    scale: float = 1.0

    def after_function_error(self, invoke_count: int) -> float:
        """The wait after the `invoke_count`-th run failed (1: one minute, then two)."""
        index = min(invoke_count, len(FUNCTION_ERROR_WAITS)) - 1
        return FUNCTION_ERROR_WAITS[max(index, 0)] * self.scale

    def after_failure(self, failures: int) -> float:
        """The wait after `failures` consecutive throttles or platform failures."""
        exponent = min(max(failures - 1, 0), 16)  # 2**16 s is far past the cap already
        return min(FIRST_FAILURE_WAIT * float(2**exponent), MAX_FAILURE_WAIT) * self.scale
