"""AWS-named API errors: the class name is the AWS error type.

Every failure of the platform itself (not of a function: function errors are data) is
one of these, raised anywhere below the API and rendered in one place
(`lambdalite.api.responses.error_response`) in AWS's REST envelope:
`x-amzn-ErrorType: <Type>` and a JSON body `{"Type": "User", "<key>": "..."}`.

The message key follows botocore's shape for each error: most use `message`, a few
`Message` (the table in aws-reference/invoke-and-errors.md, section 6).
"""

from __future__ import annotations

from typing import ClassVar


class ApiError(Exception):
    """Base of all AWS-shaped errors; subclasses set `status` and maybe `message_key`."""

    status: ClassVar[int] = 400
    message_key: ClassVar[str] = "message"

    def __init__(self, message: str = "", **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    @property
    def error_type(self) -> str:
        return type(self).__name__

    def body(self) -> dict[str, object]:
        kind = "User" if self.status < 500 else "Service"
        return {"Type": kind, self.message_key: self.message, **self.extra}


# 400
class InvalidParameterValueException(ApiError):
    pass


class InvalidRequestContentException(ApiError):
    pass


class ValidationException(ApiError):
    @classmethod
    def of(cls, problems: list[str]) -> ValidationException:
        """AWS's front-end summary: "2 validation errors detected: <p1>; <p2>"."""
        noun = "error" if len(problems) == 1 else "errors"
        return cls(f"{len(problems)} validation {noun} detected: " + "; ".join(problems))


class ResourceInUseException(ApiError):
    message_key = "Message"


class CodeStorageExceededException(ApiError):
    pass


# 403
class AccessDeniedException(ApiError):
    status = 403
    message_key = "Message"


class MissingAuthenticationTokenException(ApiError):
    status = 403


class UnrecognizedClientException(ApiError):
    status = 403


class InvalidSignatureException(ApiError):
    status = 403


class IncompleteSignatureException(ApiError):
    status = 403


# 404
class ResourceNotFoundException(ApiError):
    status = 404
    message_key = "Message"


class UnknownOperationException(ApiError):
    status = 404


class ProvisionedConcurrencyConfigNotFoundException(ApiError):
    status = 404


# 405, 409, 412, 413, 415, 429
class MethodNotAllowedException(ApiError):
    status = 405


class ResourceConflictException(ApiError):
    status = 409


class PreconditionFailedException(ApiError):
    status = 412


class RequestTooLargeException(ApiError):
    status = 413

    @property
    def error_type(self) -> str:
        # The model calls it RequestTooLargeException; the wire says this (botocore maps it).
        return "RequestEntityTooLargeException"


class UnsupportedMediaTypeException(ApiError):
    status = 415


class TooManyRequestsException(ApiError):
    status = 429


# 5xx
class ServiceException(ApiError):
    status = 500
    message_key = "Message"


class UnsupportedOperationException(ApiError):
    """An operation of the Lambda API that lambdalite does not implement (yet)."""

    status = 501
