"""StreamMappingRules: what Create/UpdateEventSourceMapping accept for a Redis stream (a
`arn:aws:kinesis:REGION:ACCOUNT:stream/NAME` of a registered stream), with AWS's Kinesis
defaults and rules, and the members GetEventSourceMapping shows for one.

Ranges and enums are the model's, checked by the API front end before a request gets
here. lambdalite reads a stream with one batch in flight, so ParallelizationFactor is 1;
tumbling windows, OnSuccess and the Kafka/MQ members are refused by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import redis

from lambdalite.control.arns import FunctionRef
from lambdalite.errors import InvalidParameterValueException
from lambdalite.mappings.filters import FilterCriteria
from lambdalite.mappings.model import (
    USER_INITIATED,
    EventSourceMapping,
    MappingState,
    SourceKind,
)
from lambdalite.model import FunctionVersion
from lambdalite.streams.location import parse_stream_arn
from lambdalite.streams.reader import latest_id
from lambdalite.streams.registry import RegisteredStream, StreamRegistry
from lambdalite.streams.settings import DEFAULT_BATCH_SIZE, FOREVER

# (account, queue ARN): raises InvalidParameterValueException unless it is a standard
# queue of the account (asyncinvoke.destinations.check_queue).
CheckQueue = Callable[[str, str], None]
MIN_RECORD_AGE_S = 60
# Members of the request only queues, brokers or Kafka use.
_NOT_FOR_STREAMS = (
    "Queues",
    "Topics",
    "SourceAccessConfigurations",
    "SelfManagedEventSource",
    "AmazonManagedKafkaEventSourceConfig",
    "SelfManagedKafkaEventSourceConfig",
    "DocumentDBEventSourceConfig",
    "ScalingConfig",
)
_NOT_YET = ("KMSKeyArn", "MetricsConfig", "LoggingConfig", "ProvisionedPollerConfig")
# UpdateEventSourceMapping members kept in source_settings as they are.
_SETTINGS = (
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "BisectBatchOnFunctionError",
    "DestinationConfig",
)


class StreamMappingRules:
    kind = SourceKind.REDIS_STREAM
    label = "Kinesis"  # how AWS's messages name this kind of source

    def __init__(self, registry: StreamRegistry, check_queue: CheckQueue) -> None:
        self._registry = registry
        self._check_queue = check_queue

    def owns(self, arn: str | None) -> bool:
        # Any Kinesis ARN: one that names no registered stream is "Stream not found".
        return (arn or "").startswith("arn:aws:kinesis:")

    def create(
        self,
        account_id: str,
        function: FunctionRef,
        version: FunctionVersion,
        params: Mapping[str, Any],
        mapping_id: str,
        now: float,
    ) -> EventSourceMapping:
        arn = str(params.get("EventSourceArn"))
        stream = self._stream(account_id, arn)
        _check_members(params)
        position = params.get("StartingPosition")
        if position is None:
            raise InvalidParameterValueException(
                "StartingPosition is required for Kinesis event sources: TRIM_HORIZON, LATEST "
                "or AT_TIMESTAMP."
            )
        timestamp = _timestamp(params.get("StartingPositionTimestamp"))
        if (position == "AT_TIMESTAMP") != (timestamp is not None):
            raise InvalidParameterValueException(
                "StartingPositionTimestamp goes with StartingPosition AT_TIMESTAMP, and only "
                "with it."
            )
        settings: dict[str, Any] = {"StartingPosition": position}
        if timestamp is not None:
            settings["StartingPositionTimestamp"] = timestamp
        if position == "LATEST":
            # AWS reads "just after the most recent record" as of the mapping's creation.
            settings["StartAfter"] = _newest(stream)
        settings.update(self._settings(account_id, params, {}))
        return EventSourceMapping(
            uuid=mapping_id,
            account_id=account_id,
            function_name=function.name,
            qualifier=function.qualifier,
            source_kind=SourceKind.REDIS_STREAM,
            source_arn=arn,
            enabled=params.get("Enabled", True),
            state=MappingState.CREATING,
            state_reason=USER_INITIATED,
            last_modified=now,
            batch_size=params.get("BatchSize", DEFAULT_BATCH_SIZE),
            batching_window_s=params.get("MaximumBatchingWindowInSeconds", 0),
            function_response_types=tuple(params.get("FunctionResponseTypes", ())),
            filter_patterns=_patterns(params) or (),
            tags=dict(params.get("Tags", {})),
            source_settings=settings,
        )

    def changes(self, current: EventSourceMapping, params: Mapping[str, Any]) -> dict[str, Any]:
        """The fields an UpdateEventSourceMapping changes (FunctionName aside)."""
        _check_members(params)
        found: dict[str, Any] = {}
        for member, name in (
            ("Enabled", "enabled"),
            ("BatchSize", "batch_size"),
            ("MaximumBatchingWindowInSeconds", "batching_window_s"),
        ):
            if member in params:
                found[name] = params[member]
        if "FunctionResponseTypes" in params:
            found["function_response_types"] = tuple(params["FunctionResponseTypes"])
        patterns = _patterns(params)
        if patterns is not None:
            found["filter_patterns"] = patterns
        settings = self._settings(current.account_id, params, current.source_settings)
        if settings != current.source_settings:
            found["source_settings"] = settings
        return found

    def check(self, mapping: EventSourceMapping) -> None:
        """Rules on the mapping as a whole, after an update (none beyond the ranges)."""

    def members(self, mapping: EventSourceMapping) -> dict[str, Any]:
        """What GetEventSourceMapping shows of a stream mapping beyond the common members."""
        s = mapping.source_settings
        found: dict[str, Any] = {"StartingPosition": s["StartingPosition"]}
        if "StartingPositionTimestamp" in s:
            found["StartingPositionTimestamp"] = s["StartingPositionTimestamp"]
        on_failure = s.get("DestinationConfig", {}).get("OnFailure", {})
        found.update(
            {
                "ParallelizationFactor": 1,
                "DestinationConfig": {"OnFailure": dict(on_failure)},
                "MaximumRecordAgeInSeconds": s.get("MaximumRecordAgeInSeconds", FOREVER),
                "BisectBatchOnFunctionError": s.get("BisectBatchOnFunctionError", False),
                "MaximumRetryAttempts": s.get("MaximumRetryAttempts", FOREVER),
                "TumblingWindowInSeconds": 0,
            }
        )
        return found

    # -- helpers --------------------------------------------------------------------------
    def _stream(self, account_id: str, arn: str) -> RegisteredStream:
        parsed = parse_stream_arn(arn)
        found = None
        if parsed and parsed[0] == self._registry.region and parsed[1] == account_id:
            found = self._registry.get(account_id, parsed[2])
        if found is None:  # another account's stream is "not found" too
            raise InvalidParameterValueException(
                f"Stream not found: {arn}. lambdalite reads Redis streams registered with "
                "`lambdalite streams add NAME --redis URL`."
            )
        return found

    def _settings(
        self, account_id: str, params: Mapping[str, Any], current: Mapping[str, Any]
    ) -> dict[str, Any]:
        settings = dict(current)
        for member in _SETTINGS:
            if member in params:
                settings[member] = params[member]
        age = settings.get("MaximumRecordAgeInSeconds", FOREVER)
        if age != FOREVER and age < MIN_RECORD_AGE_S:
            raise InvalidParameterValueException(
                "MaximumRecordAgeInSeconds must be -1 (no limit) or between 60 and 604800."
            )
        if params.get("ParallelizationFactor", 1) != 1:
            raise InvalidParameterValueException(
                "lambdalite reads a Redis stream with one batch in flight: "
                "ParallelizationFactor must be 1."
            )
        if params.get("TumblingWindowInSeconds", 0):
            raise InvalidParameterValueException(
                "lambdalite does not support TumblingWindowInSeconds yet."
            )
        if "DestinationConfig" in params:
            settings["DestinationConfig"] = self._destination(account_id, params)
        return settings

    def _destination(self, account_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        config = params["DestinationConfig"] or {}
        if config.get("OnSuccess", {}).get("Destination"):
            raise InvalidParameterValueException(
                "Unsupported DestinationConfig parameter for given event source mapping type: "
                "OnSuccess."
            )
        target = config.get("OnFailure", {}).get("Destination")
        if not target:
            return {}
        self._check_queue(account_id, target)
        return {"OnFailure": {"Destination": target}}


def _check_members(params: Mapping[str, Any]) -> None:
    for name in _NOT_FOR_STREAMS:
        if _given(params.get(name)):
            raise InvalidParameterValueException(f"{name} is not valid for Kinesis event sources.")
    for name in _NOT_YET:
        if _given(params.get(name)):
            raise InvalidParameterValueException(
                f"lambdalite does not support {name} on event source mappings yet."
            )


def _patterns(params: Mapping[str, Any]) -> tuple[str, ...] | None:
    criteria = params.get("FilterCriteria")
    if criteria is None:
        return None
    texts = tuple(f.get("Pattern", "") for f in criteria.get("Filters", []))
    FilterCriteria.parse(texts)
    return texts


def _timestamp(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise InvalidParameterValueException(
            f"StartingPositionTimestamp {value!r} is not a time."
        ) from None


def _newest(stream: RegisteredStream) -> str:
    try:
        return latest_id(stream.location)
    except redis.RedisError as exc:
        raise InvalidParameterValueException(
            f"Cannot read stream {stream.name} at {stream.location.shown}: {exc}"
        ) from None


def _given(value: Any) -> bool:
    """Tools send empty settings ({}, [], false) for "none": not a request for them."""
    if isinstance(value, dict):
        return any(_given(v) for v in value.values())
    if isinstance(value, list | str):
        return bool(value)
    return value is not None and value is not False
