"""EventBridge's errors: the class name is the `__type` botocore reads.

Every one of them is HTTP 400, ResourceNotFoundException included (the JSON protocol
tells them apart by `__type`). Messages are EventBridge's as SDKs and the CLI show them.
"""

from __future__ import annotations

from lambdalite.errors import ApiError


class EventsError(ApiError):
    status = 400


class ValidationException(EventsError):
    pass


class ResourceNotFoundException(EventsError):
    pass


class LimitExceededException(EventsError):
    pass


def invalid_schedule() -> ValidationException:
    return ValidationException("Parameter ScheduleExpression is not valid.")


def rule_not_found(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Rule {name} does not exist on EventBus default.")
