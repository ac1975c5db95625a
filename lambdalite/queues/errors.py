"""SQS's errors: the class name is the error shape of botocore's SQS model.

SQS moved from the Query protocol to JSON keeping its old error codes: every error also
carries the legacy Query code, sent as `x-amzn-query-error: <code>;Sender`. botocore
raises the exception class named by the shape (`client.exceptions.QueueDoesNotExist`) but
reports the legacy code as `ClientError.response["Error"]["Code"]`, as AWS does
("Amazon SQS error codes" / botocore `_handle_sqs_compatible_error`). The legacy codes
are those of the SDKs' SQS error constants (aws-sdk-go `service/sqs/errors.go`).
"""

from __future__ import annotations

from typing import ClassVar

from lambdalite.errors import ApiError


class SqsError(ApiError):
    """An SQS error: HTTP 400 and a legacy Query code; `__type` is namespaced."""

    query_code: ClassVar[str] = ""

    @property
    def legacy_code(self) -> str:
        return self.query_code or self.error_type

    @property
    def sender_fault(self) -> bool:
        return self.status < 500


class QueueDoesNotExist(SqsError):
    query_code = "AWS.SimpleQueueService.NonExistentQueue"

    def __init__(self, message: str = "The specified queue does not exist.") -> None:
        super().__init__(message)


class QueueNameExists(SqsError):
    query_code = "QueueAlreadyExists"


class QueueDeletedRecently(SqsError):
    query_code = "AWS.SimpleQueueService.QueueDeletedRecently"


class ReceiptHandleIsInvalid(SqsError):
    pass


class MessageNotInflight(SqsError):
    query_code = "AWS.SimpleQueueService.MessageNotInflight"


class PurgeQueueInProgress(SqsError):
    query_code = "AWS.SimpleQueueService.PurgeQueueInProgress"


class InvalidAttributeName(SqsError):
    pass


class InvalidAttributeValue(SqsError):
    pass


class InvalidMessageContents(SqsError):
    pass


class EmptyBatchRequest(SqsError):
    query_code = "AWS.SimpleQueueService.EmptyBatchRequest"


class TooManyEntriesInBatchRequest(SqsError):
    query_code = "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"


class BatchEntryIdsNotDistinct(SqsError):
    query_code = "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"


class InvalidBatchEntryId(SqsError):
    query_code = "AWS.SimpleQueueService.InvalidBatchEntryId"


class BatchRequestTooLong(SqsError):
    query_code = "AWS.SimpleQueueService.BatchRequestTooLong"


class InvalidAddress(SqsError):
    pass


class UnsupportedOperation(SqsError):
    query_code = "AWS.SimpleQueueService.UnsupportedOperation"


# Not modeled as shapes (botocore raises a plain ClientError with these codes), but
# what SQS answers for bad and missing parameters ("Common Errors").
class InvalidParameterValue(SqsError):
    pass


class MissingParameter(SqsError):
    pass


def invalid_parameter(name: str, value: object, reason: str) -> InvalidParameterValue:
    """SQS's wording: "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: ..."."""
    return InvalidParameterValue(f"Value {value} for parameter {name} is invalid. Reason: {reason}")


def missing_parameter(name: str) -> MissingParameter:
    return MissingParameter(f"The request must contain the parameter {name}.")
