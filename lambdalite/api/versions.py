"""Handlers: PublishVersion, ListVersionsByFunction."""

from __future__ import annotations

from typing import Any

from lambdalite.api.dispatcher import Call, Handler
from lambdalite.api.functions import FunctionsApi
from lambdalite.api.render import function_configuration
from lambdalite.api.responses import Reply
from lambdalite.control.functions import FunctionService


class VersionsApi:
    def __init__(self, functions: FunctionService, names: FunctionsApi) -> None:
        self._functions = functions
        self._names = names

    def handlers(self) -> dict[str, Handler]:
        return {"PublishVersion": self.publish, "ListVersionsByFunction": self.list}

    def publish(self, call: Call) -> Reply:
        p = call.params
        ref = self._names.ref(call, allow_qualifier=False)
        version = self._functions.publish(
            call.account_id,
            ref.name,
            description=p.get("Description"),
            code_sha256=p.get("CodeSha256"),
            revision_id=p.get("RevisionId"),
        )
        return Reply(function_configuration(version, self._functions.region), status=201)

    def list(self, call: Call) -> dict[str, Any]:
        p = call.params
        ref = self._names.ref(call, allow_qualifier=False)
        versions, marker = self._functions.list_versions(
            call.account_id, ref.name, p.get("Marker"), p.get("MaxItems")
        )
        region = self._functions.region
        body: dict[str, Any] = {
            "Versions": [function_configuration(v, region, qualify_latest=True) for v in versions]
        }
        if marker:
            body["NextMarker"] = marker
        return body
