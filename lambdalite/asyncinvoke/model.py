"""The records of asynchronous invocation: an accepted event, the response of its latest
run, where its invocation record goes, and a function's event invoke configuration."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# "Configuring error handling for asynchronous invocation": AWS's defaults.
DEFAULT_RETRY_ATTEMPTS = 2
DEFAULT_MAXIMUM_EVENT_AGE_SECONDS = 21_600


class Condition(StrEnum):
    """How an invocation ended, as the invocation record's requestContext names it."""

    SUCCESS = "Success"
    RETRIES_EXHAUSTED = "RetriesExhausted"
    EVENT_AGE_EXCEEDED = "EventAgeExceeded"


@dataclass(frozen=True)
class Response:
    """What the latest run answered, or (the function never ran) the platform's refusal."""

    status_code: int
    executed_version: str
    function_error: str | None
    payload: str

    def to_store(self) -> dict[str, Any]:
        return {
            "statusCode": self.status_code,
            "executedVersion": self.executed_version,
            "functionError": self.function_error,
            "payload": self.payload,
        }

    @classmethod
    def from_store(cls, data: dict[str, Any]) -> Response:
        return cls(
            data["statusCode"], data["executedVersion"], data["functionError"], data["payload"]
        )


@dataclass(frozen=True)
class Delivery:
    """A message on its way to a destination or dead-letter queue. `attributes` are SQS
    message attributes as the queue service stores them ({"DataType", "StringValue"})."""

    target: str  # an SQS queue ARN or a function ARN
    body: str
    attributes: dict[str, dict[str, str]]

    def to_store(self) -> dict[str, Any]:
        return {"target": self.target, "body": self.body, "attributes": self.attributes}

    @classmethod
    def from_store(cls, data: dict[str, Any]) -> Delivery:
        return cls(data["target"], data["body"], dict(data["attributes"]))


@dataclass(frozen=True)
class AsyncEvent:
    """An accepted Event invocation, as the store holds it between attempts."""

    request_id: str
    account_id: str
    function_name: str
    qualifier: str | None
    payload: bytes
    enqueued_at: float
    due_at: float
    invoke_count: int = 0
    failures: int = 0
    response: Response | None = None
    condition: Condition | None = None
    delivery: Delivery | None = None
    last_error: str | None = None
    # What the usage records name as its trigger: "event" (an Event Invoke), "schedule",
    # "bucket" (docs/decisions/0603).
    trigger: str = "event"


@dataclass(frozen=True)
class EventInvokeConfig:
    """PutFunctionEventInvokeConfig's settings for one function, version or alias."""

    account_id: str
    function_name: str
    qualifier: str  # "$LATEST" for the unqualified function
    maximum_retry_attempts: int | None = None
    maximum_event_age_seconds: int | None = None
    on_success: str | None = None
    on_failure: str | None = None
    last_modified: float = 0.0

    @property
    def retry_attempts(self) -> int:
        if self.maximum_retry_attempts is None:
            return DEFAULT_RETRY_ATTEMPTS
        return self.maximum_retry_attempts

    @property
    def maximum_event_age(self) -> int:
        if self.maximum_event_age_seconds is None:
            return DEFAULT_MAXIMUM_EVENT_AGE_SECONDS
        return self.maximum_event_age_seconds
