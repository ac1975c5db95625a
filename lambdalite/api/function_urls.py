"""Handlers: Create/Get/Update/Delete/ListFunctionUrlConfig(s), and AddPermission,
RemovePermission and GetPolicy (the resource policy a function URL consults)."""

from __future__ import annotations

import json
from typing import Any

from lambdalite.api.dispatcher import Call, Handler
from lambdalite.api.functions import FunctionsApi
from lambdalite.api.responses import Reply
from lambdalite.control.arns import resolve_qualifier
from lambdalite.urls.model import FunctionUrlConfig
from lambdalite.urls.policy import PolicyService
from lambdalite.urls.service import FunctionUrlService


class FunctionUrlsApi:
    def __init__(
        self, urls: FunctionUrlService, policy: PolicyService, names: FunctionsApi
    ) -> None:
        self._urls = urls
        self._policy = policy
        self._names = names

    def handlers(self) -> dict[str, Handler]:
        return {
            "CreateFunctionUrlConfig": self.create,
            "GetFunctionUrlConfig": self.get,
            "UpdateFunctionUrlConfig": self.update,
            "DeleteFunctionUrlConfig": self.delete,
            "ListFunctionUrlConfigs": self.list,
            "AddPermission": self.add_permission,
            "RemovePermission": self.remove_permission,
            "GetPolicy": self.get_policy,
        }

    def _target(self, call: Call) -> tuple[str, str | None]:
        ref = self._names.ref(call)
        return ref.name, resolve_qualifier(ref, call.params.get("Qualifier"))

    # -- function URLs --------------------------------------------------------------------
    def create(self, call: Call) -> Reply:
        p = call.params
        name, qualifier = self._target(call)
        config = self._urls.create(
            call.account_id, name, qualifier, p["AuthType"], p.get("Cors"), p.get("InvokeMode")
        )
        body = self._render(config, call.base_url)
        del body["LastModifiedTime"]  # CreateFunctionUrlConfig's output has none
        return Reply(body, status=201)

    def get(self, call: Call) -> dict[str, Any]:
        name, qualifier = self._target(call)
        return self._render(self._urls.get(call.account_id, name, qualifier), call.base_url)

    def update(self, call: Call) -> dict[str, Any]:
        p = call.params
        name, qualifier = self._target(call)
        config = self._urls.update(
            call.account_id,
            name,
            qualifier,
            p.get("AuthType"),
            p.get("Cors"),
            p.get("InvokeMode"),
        )
        return self._render(config, call.base_url)

    def delete(self, call: Call) -> Reply:
        name, qualifier = self._target(call)
        self._urls.delete(call.account_id, name, qualifier)
        return Reply(status=204)

    def list(self, call: Call) -> dict[str, Any]:
        p = call.params
        ref = self._names.ref(call, allow_qualifier=False)
        configs, marker = self._urls.list(
            call.account_id, ref.name, p.get("Marker"), p.get("MaxItems")
        )
        body: dict[str, Any] = {
            "FunctionUrlConfigs": [self._render(c, call.base_url) for c in configs]
        }
        if marker:
            body["NextMarker"] = marker
        return body

    def _render(self, config: FunctionUrlConfig, base_url: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "FunctionUrl": config.url(base_url),
            "FunctionArn": self._urls.function_arn(config),
            "AuthType": config.auth_type.value,
            "CreationTime": config.created_at,
            "LastModifiedTime": config.last_modified,
            "InvokeMode": config.invoke_mode,
        }
        if config.cors is not None:
            body["Cors"] = config.cors.to_api()
        return body

    # -- the resource policy --------------------------------------------------------------
    def add_permission(self, call: Call) -> Reply:
        name, qualifier = self._target(call)
        statement = self._policy.add(call.account_id, name, qualifier, call.params)
        return Reply({"Statement": json.dumps(statement, separators=(",", ":"))}, status=201)

    def remove_permission(self, call: Call) -> Reply:
        p = call.params
        name, qualifier = self._target(call)
        self._policy.remove(call.account_id, name, qualifier, p["StatementId"], p.get("RevisionId"))
        return Reply(status=204)

    def get_policy(self, call: Call) -> dict[str, Any]:
        name, qualifier = self._target(call)
        policy, revision = self._policy.policy(call.account_id, name, qualifier)
        return {"Policy": policy, "RevisionId": revision}
