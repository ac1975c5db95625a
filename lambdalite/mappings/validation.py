"""What Create/UpdateEventSourceMapping refuse for an SQS source, in AWS's words.

Ranges (BatchSize 1-10,000, MaximumBatchingWindowInSeconds 0-300, MaximumConcurrency
2-1,000) and enums are the model's, checked by the API front end before a request gets
here; these are the rules that depend on the kind of source and on the queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambdalite.errors import InvalidParameterValueException

SQS_DEFAULT_BATCH_SIZE = 10
FIFO_MAX_BATCH_SIZE = 10
# Members of the request that only streams, brokers or Kafka use.
_NOT_FOR_SQS = (
    "ParallelizationFactor",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "DestinationConfig",
    "TumblingWindowInSeconds",
    "Topics",
    "Queues",
    "SourceAccessConfigurations",
    "SelfManagedEventSource",
    "AmazonManagedKafkaEventSourceConfig",
    "SelfManagedKafkaEventSourceConfig",
    "DocumentDBEventSourceConfig",
)
# AWS applies these to SQS mappings; lambdalite does not, and says so.
_NOT_YET = ("KMSKeyArn", "MetricsConfig", "LoggingConfig", "ProvisionedPollerConfig")


def check_sqs_members(params: Mapping[str, Any]) -> None:
    if "StartingPosition" in params or "StartingPositionTimestamp" in params:
        raise InvalidParameterValueException("StartingPosition is not valid for SQS event sources.")
    for name in _NOT_FOR_SQS:
        if _given(params.get(name)):
            raise InvalidParameterValueException(f"{name} is not valid for SQS event sources.")
    for name in _NOT_YET:
        if _given(params.get(name)):
            raise InvalidParameterValueException(
                f"lambdalite does not support {name} on event source mappings yet."
            )


def check_batching(batch_size: int, window_s: int, fifo: bool) -> None:
    """BatchSize and MaximumBatchingWindowInSeconds together ("Using Lambda with Amazon
    SQS": FIFO queues take at most 10 and no window; a standard queue's batch over 10
    needs a window of at least a second)."""
    if fifo:
        if batch_size > FIFO_MAX_BATCH_SIZE:
            raise InvalidParameterValueException(
                f"Maximum batch size must be between 1 and {FIFO_MAX_BATCH_SIZE} inclusive"
            )
        if window_s > 0:
            raise InvalidParameterValueException("Batching window is not supported for FIFO queues")
    elif batch_size > SQS_DEFAULT_BATCH_SIZE and window_s < 1:
        raise InvalidParameterValueException(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is "
            "greater than 10"
        )


def check_visibility(visibility_timeout: int, function_timeout: int) -> None:
    """A batch must not come back to the queue while the function still runs on it."""
    if visibility_timeout < function_timeout:
        raise InvalidParameterValueException(
            f"Queue visibility timeout: {visibility_timeout} seconds is less than Function "
            f"timeout: {function_timeout} seconds"
        )


def _given(value: Any) -> bool:
    """Tools send empty settings ({}, [], false) for "none": not a request for them."""
    if isinstance(value, dict):
        return any(_given(v) for v in value.values())
    if isinstance(value, list | str):
        return bool(value)
    return value is not None and value is not False
