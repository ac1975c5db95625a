"""Handlers: Put/Get/Update/Delete/ListFunctionEventInvokeConfigs."""

from __future__ import annotations

from typing import Any

from lambdalite.api.dispatcher import Call, Handler
from lambdalite.api.functions import FunctionsApi
from lambdalite.api.responses import Reply
from lambdalite.asyncinvoke.configs import EventInvokeConfigService
from lambdalite.asyncinvoke.model import EventInvokeConfig
from lambdalite.control.arns import function_arn, resolve_qualifier

_SETTINGS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")


class EventInvokeConfigsApi:
    def __init__(self, configs: EventInvokeConfigService, names: FunctionsApi, region: str):
        self._configs = configs
        self._names = names
        self._region = region

    def handlers(self) -> dict[str, Handler]:
        return {
            "PutFunctionEventInvokeConfig": self.put,
            "GetFunctionEventInvokeConfig": self.get,
            "UpdateFunctionEventInvokeConfig": self.update,
            "DeleteFunctionEventInvokeConfig": self.delete,
            "ListFunctionEventInvokeConfigs": self.list,
        }

    def _target(self, call: Call) -> tuple[str, str | None]:
        ref = self._names.ref(call)
        return ref.name, resolve_qualifier(ref, call.params.get("Qualifier"))

    def put(self, call: Call) -> dict[str, Any]:
        name, qualifier = self._target(call)
        settings = {k: call.params[k] for k in _SETTINGS if k in call.params}
        return self._render(self._configs.put(call.account_id, name, qualifier, settings))

    def update(self, call: Call) -> dict[str, Any]:
        name, qualifier = self._target(call)
        settings = {k: call.params[k] for k in _SETTINGS if k in call.params}
        return self._render(self._configs.update(call.account_id, name, qualifier, settings))

    def get(self, call: Call) -> dict[str, Any]:
        name, qualifier = self._target(call)
        return self._render(self._configs.get(call.account_id, name, qualifier))

    def delete(self, call: Call) -> Reply:
        name, qualifier = self._target(call)
        self._configs.delete(call.account_id, name, qualifier)
        return Reply(status=204)

    def list(self, call: Call) -> dict[str, Any]:
        ref = self._names.ref(call, allow_qualifier=False)
        configs, marker = self._configs.configs(
            call.account_id, ref.name, call.params.get("Marker"), call.params.get("MaxItems")
        )
        body: dict[str, Any] = {"FunctionEventInvokeConfigs": [self._render(c) for c in configs]}
        if marker:
            body["NextMarker"] = marker
        return body

    def _render(self, config: EventInvokeConfig) -> dict[str, Any]:
        """FunctionEventInvokeConfig: LastModified in epoch seconds; a setting never set
        is left out; DestinationConfig always shows both members, empty when unset."""
        body: dict[str, Any] = {
            "LastModified": config.last_modified,
            "FunctionArn": function_arn(
                self._region, config.account_id, config.function_name, config.qualifier
            ),
        }
        if config.maximum_retry_attempts is not None:
            body["MaximumRetryAttempts"] = config.maximum_retry_attempts
        if config.maximum_event_age_seconds is not None:
            body["MaximumEventAgeInSeconds"] = config.maximum_event_age_seconds
        body["DestinationConfig"] = {
            "OnSuccess": {"Destination": config.on_success} if config.on_success else {},
            "OnFailure": {"Destination": config.on_failure} if config.on_failure else {},
        }
        return body
