"""CloudWatch Logs' errors: the class name is the error shape of botocore's logs model.

Unlike Lambda's, every one of them is HTTP 400, ResourceNotFoundException included
(the JSON protocol tells them apart by `__type`, not status). Messages are AWS's as seen
in SDK and CLI output ("The specified log group does not exist.").
"""

from __future__ import annotations

from lambdalite.errors import ApiError


class LogsError(ApiError):
    status = 400


class ResourceNotFoundException(LogsError):
    pass


class ResourceAlreadyExistsException(LogsError):
    pass


class InvalidParameterException(LogsError):
    pass


def group_not_found() -> ResourceNotFoundException:
    return ResourceNotFoundException("The specified log group does not exist.")


def stream_not_found() -> ResourceNotFoundException:
    return ResourceNotFoundException("The specified log stream does not exist.")


def invalid_token() -> InvalidParameterException:
    return InvalidParameterException("The specified nextToken is invalid.")
