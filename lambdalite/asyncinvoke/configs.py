"""EventInvokeConfigService: Put/Get/Update/Delete/ListFunctionEventInvokeConfigs.

AWS's rules ("PutFunctionEventInvokeConfig", "UpdateFunctionEventInvokeConfig"): Put
replaces the whole configuration (a setting left out is removed), Update changes only the
settings it names; both need at least one setting. A configuration belongs to the
function ($LATEST), a version or an alias, and applies to Event invocations of exactly
that qualifier. Wording of the errors as AWS answers them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from lambdalite.asyncinvoke.config_store import ConfigStore
from lambdalite.asyncinvoke.destinations import Destinations, service_of, unsupported
from lambdalite.asyncinvoke.model import EventInvokeConfig
from lambdalite.control.functions import FunctionService
from lambdalite.control.pagination import page
from lambdalite.errors import (
    ApiError,
    InvalidParameterValueException,
    ResourceNotFoundException,
)
from lambdalite.model import LATEST

_KNOWN_SERVICES = ("sqs", "lambda", "sns", "events", "s3", "kafka")


class EventInvokeConfigService:
    def __init__(
        self,
        store: ConfigStore,
        functions: FunctionService,
        destinations: Destinations,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._functions = functions
        self._destinations = destinations
        self._clock = clock

    def put(
        self, account_id: str, name: str, qualifier: str | None, settings: dict[str, Any]
    ) -> EventInvokeConfig:
        """`settings`: the request's MaximumRetryAttempts, MaximumEventAgeInSeconds and
        DestinationConfig, as given."""
        _require_a_setting(settings)
        key = self._existing_target(account_id, name, qualifier)
        config = _apply(EventInvokeConfig(account_id, name, key), settings)
        return self._save(config)

    def update(
        self, account_id: str, name: str, qualifier: str | None, settings: dict[str, Any]
    ) -> EventInvokeConfig:
        _require_a_setting(settings)
        key = self._existing_target(account_id, name, qualifier)
        current = self._store.get(account_id, name, key)
        if current is None:
            raise self._missing(account_id, name, key)
        return self._save(_apply(current, settings))

    def get(self, account_id: str, name: str, qualifier: str | None) -> EventInvokeConfig:
        key = qualifier or LATEST
        found = self._store.get(account_id, name, key)
        if found is None:
            raise self._missing(account_id, name, key)
        return found

    def delete(self, account_id: str, name: str, qualifier: str | None) -> None:
        key = qualifier or LATEST
        if not self._store.delete(account_id, name, key):
            raise self._missing(account_id, name, key)

    def configs(
        self, account_id: str, name: str, marker: str | None, max_items: int | None
    ) -> tuple[list[EventInvokeConfig], str | None]:
        try:
            self._functions.function(account_id, name)
        except ResourceNotFoundException:
            raise _no_function() from None
        return page(self._store.of_function(account_id, name), _key, marker, max_items)

    def effective(self, account_id: str, name: str, qualifier: str | None) -> EventInvokeConfig:
        """What governs an Event invocation of this qualifier: its configuration, else
        AWS's defaults (2 retries, 6 hours, no destinations)."""
        key = qualifier or LATEST
        found = self._store.get(account_id, name, key)
        return found if found is not None else EventInvokeConfig(account_id, name, key)

    # -- helpers ----------------------------------------------------------------------
    def _existing_target(self, account_id: str, name: str, qualifier: str | None) -> str:
        try:
            self._functions.version(account_id, name, qualifier)
        except ResourceNotFoundException:
            raise _no_function() from None
        return qualifier or LATEST

    def _save(self, config: EventInvokeConfig) -> EventInvokeConfig:
        self._check_destinations(config)
        saved = replace(config, last_modified=self._clock())
        self._store.put(saved)
        return saved

    def _check_destinations(self, config: EventInvokeConfig) -> None:
        given = [arn for arn in (config.on_success, config.on_failure) if arn]
        if any(service_of(arn) not in _KNOWN_SERVICES for arn in given):
            on_success = (
                f"OnSuccess(destination={config.on_success})" if config.on_success else "null"
            )
            on_failure = (
                f"OnFailure(destination={config.on_failure})" if config.on_failure else "null"
            )
            raise InvalidParameterValueException(
                f"The provided destination config DestinationConfig(onSuccess={on_success}, "
                f"onFailure={on_failure}) is invalid."
            )
        for arn in given:
            kind = unsupported(arn)
            if kind is not None:
                raise InvalidParameterValueException(
                    f"lambdalite does not support {kind} as destinations ({arn}): use an SQS "
                    "queue or a function of lambdalite."
                )
            self._destinations.check_destination(config.account_id, config.function_name, arn)

    def _missing(self, account_id: str, name: str, qualifier: str) -> ApiError:
        arn = self._functions.arn(account_id, name, qualifier)
        return ResourceNotFoundException(f"The function {arn} doesn't have an EventInvokeConfig")


def _apply(config: EventInvokeConfig, settings: dict[str, Any]) -> EventInvokeConfig:
    """The settings a request names, over `config` (Put starts from an empty one)."""
    changes: dict[str, Any] = {}
    if "MaximumRetryAttempts" in settings:
        changes["maximum_retry_attempts"] = settings["MaximumRetryAttempts"]
    if "MaximumEventAgeInSeconds" in settings:
        changes["maximum_event_age_seconds"] = settings["MaximumEventAgeInSeconds"]
    destinations = settings.get("DestinationConfig")
    if destinations is not None:
        # Each of OnSuccess / OnFailure that the request names is replaced; an empty one
        # ({} or Destination "") removes that destination.
        for member, field in (("OnSuccess", "on_success"), ("OnFailure", "on_failure")):
            if member in destinations:
                changes[field] = destinations[member].get("Destination") or None
    return replace(config, **changes)


def _require_a_setting(settings: dict[str, Any]) -> None:
    if not any(
        settings.get(k) is not None
        for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
    ):
        raise InvalidParameterValueException(
            "You must specify at least one of error handling or destination setting."
        )


def _no_function() -> ResourceNotFoundException:
    return ResourceNotFoundException("The function doesn't exist.")


def _key(config: EventInvokeConfig) -> str:
    return config.qualifier
