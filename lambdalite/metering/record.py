"""UsageRecord: what one invocation used, as the REPORT line says it, priced.

The Invoker does not build records: it appends a `UsageEntry` (a plain tuple of what it
already holds) and the log sink's process (or the log writer's thread) turns entries
into records later, so
the invoke path pays for a tuple, not for a dataclass, Decimal arithmetic and a price
lookup (decision 0006: every microsecond there was fought for).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from lambdalite.model import FunctionVersion
from lambdalite.sandbox.spec import InvocationOutcome


class Trigger(StrEnum):
    """What started an invocation."""

    API = "api"  # Invoke (RequestResponse) through the API or the CLI
    EVENT = "event"  # an asynchronous (Event) invoke
    URL = "url"  # a function URL
    SCHEDULE = "schedule"
    BUCKET = "bucket"
    QUEUE = "queue"  # an event source mapping of a queue
    STREAM = "stream"


class Outcome(StrEnum):
    SUCCESS = "success"
    FUNCTION_ERROR = "function_error"  # the handler raised, the runtime exited, init failed
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "oom"
    THROTTLED = "throttled"  # never reached a sandbox: a 429 from the concurrency limits


# (trigger, wall-clock start in s, the version that ran, request id, what it did — None
# when throttled —, ms from the Invoker's start to holding its lease).
UsageEntry = tuple[str, float, FunctionVersion, str, InvocationOutcome | None, float]


@dataclass(slots=True)
class UsageRecord:
    """Treat as immutable. Not `frozen`: a frozen dataclass's __init__ pays ~0.2 µs a
    field, 5 µs for this one, and the log writer builds one per invocation."""

    account_id: str
    function_name: str
    version: str
    request_id: str
    trigger: str
    started_at: int  # epoch ms
    init_ms: float | None  # Init Duration: cold starts only
    duration_ms: float
    billed_ms: int  # ceil(init + duration), the REPORT line's Billed Duration
    memory_mb: int
    max_memory_used_mb: int
    architecture: str
    ephemeral_storage_mb: int
    cold: bool
    provisioned: bool
    outcome: Outcome
    error_type: str | None
    gb_seconds: Decimal
    cost: Decimal  # the price book's list price: its first tier, no free tier
    # The cold-start breakdown (cold only; the handler's part is duration_ms).
    queued_ms: float | None = None
    create_ms: float | None = None
    runtime_ms: float | None = None
    function_init_ms: float | None = None

    @property
    def day(self) -> int:
        """Days since the epoch (UTC): what bills group by."""
        return self.started_at // 86_400_000


def outcome_of(outcome: InvocationOutcome | None) -> Outcome:
    if outcome is None:
        return Outcome.THROTTLED
    error_type = outcome.error_type
    if error_type is None:
        return Outcome.SUCCESS
    if error_type == "Sandbox.Timedout":
        return Outcome.TIMEOUT
    if error_type == "Runtime.OutOfMemory":
        return Outcome.OUT_OF_MEMORY
    return Outcome.FUNCTION_ERROR
