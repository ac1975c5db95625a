"""Handlers: Put/Get/Delete/ListProvisionedConcurrencyConfig(s)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambdalite.api.dispatcher import Call, Handler
from lambdalite.api.functions import FunctionsApi
from lambdalite.api.responses import Reply
from lambdalite.control.arns import function_arn, resolve_qualifier
from lambdalite.control.provisioned import ProvisionedConcurrencyService
from lambdalite.errors import InvalidParameterValueException
from lambdalite.store.provisioned import ProvisionedConfig

# (account, function, qualifier) -> sandboxes of it initialised now.
Availability = Callable[[str, str, str], int]


class ProvisionedApi:
    def __init__(
        self,
        service: ProvisionedConcurrencyService,
        names: FunctionsApi,
        available: Availability,
        on_change: Callable[[], None],
        region: str,
    ) -> None:
        self._service = service
        self._names = names
        self._available = available
        self._on_change = on_change
        self._region = region

    def handlers(self) -> dict[str, Handler]:
        return {
            "PutProvisionedConcurrencyConfig": self.put,
            "GetProvisionedConcurrencyConfig": self.get,
            "DeleteProvisionedConcurrencyConfig": self.delete,
            "ListProvisionedConcurrencyConfigs": self.list,
        }

    def _target(self, call: Call) -> tuple[str, str]:
        ref = self._names.ref(call)
        qualifier = resolve_qualifier(ref, call.params.get("Qualifier"))
        if not qualifier:
            raise InvalidParameterValueException("A qualifier is required.")
        return ref.name, qualifier

    def put(self, call: Call) -> Reply:
        name, qualifier = self._target(call)
        count = call.params["ProvisionedConcurrentExecutions"]
        config = self._service.put(call.account_id, name, qualifier, count)
        self._on_change()
        return Reply(self._render(config), status=202)

    def get(self, call: Call) -> dict[str, Any]:
        name, qualifier = self._target(call)
        return self._render(self._service.get(call.account_id, name, qualifier))

    def delete(self, call: Call) -> Reply:
        name, qualifier = self._target(call)
        self._service.delete(call.account_id, name, qualifier)
        self._on_change()
        return Reply(status=204)

    def list(self, call: Call) -> dict[str, Any]:
        ref = self._names.ref(call, allow_qualifier=False)
        configs, marker = self._service.configs(
            call.account_id, ref.name, call.params.get("Marker"), call.params.get("MaxItems")
        )
        items = []
        for config in configs:
            item = self._render(config)
            item["FunctionArn"] = function_arn(
                self._region, config.account_id, config.function_name, config.qualifier
            )
            items.append(item)
        body: dict[str, Any] = {"ProvisionedConcurrencyConfigs": items}
        if marker:
            body["NextMarker"] = marker
        return body

    def _render(self, config: ProvisionedConfig) -> dict[str, Any]:
        available = min(
            config.requested,
            self._available(config.account_id, config.function_name, config.qualifier),
        )
        return {
            "RequestedProvisionedConcurrentExecutions": config.requested,
            "AvailableProvisionedConcurrentExecutions": available,
            "AllocatedProvisionedConcurrentExecutions": available,
            "Status": "READY" if available >= config.requested else "IN_PROGRESS",
            "LastModified": config.last_modified,
        }
