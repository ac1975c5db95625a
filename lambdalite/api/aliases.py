"""Handlers: CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases."""

from __future__ import annotations

from typing import Any

from lambdalite.api.dispatcher import Call, Handler
from lambdalite.api.functions import FunctionsApi
from lambdalite.api.render import alias_configuration
from lambdalite.api.responses import Reply
from lambdalite.control.aliases import AliasService


class AliasesApi:
    def __init__(self, aliases: AliasService, names: FunctionsApi, region: str) -> None:
        self._aliases = aliases
        self._names = names
        self._region = region

    def handlers(self) -> dict[str, Handler]:
        return {
            "CreateAlias": self.create,
            "GetAlias": self.get,
            "UpdateAlias": self.update,
            "DeleteAlias": self.delete,
            "ListAliases": self.list,
        }

    def create(self, call: Call) -> Reply:
        p = call.params
        ref = self._names.ref(call, allow_qualifier=False)
        alias = self._aliases.create(
            call.account_id,
            ref.name,
            p["Name"],
            p["FunctionVersion"],
            p.get("Description", ""),
            _weights(p),
        )
        return Reply(alias_configuration(alias, self._region), status=201)

    def get(self, call: Call) -> dict[str, Any]:
        ref = self._names.ref(call, allow_qualifier=False)
        alias = self._aliases.get(call.account_id, ref.name, call.params["Name"])
        return alias_configuration(alias, self._region)

    def update(self, call: Call) -> dict[str, Any]:
        p = call.params
        ref = self._names.ref(call, allow_qualifier=False)
        alias = self._aliases.update(
            call.account_id,
            ref.name,
            p["Name"],
            function_version=p.get("FunctionVersion"),
            description=p.get("Description"),
            weights=_weights(p) if "RoutingConfig" in p else None,
            revision_id=p.get("RevisionId"),
        )
        return alias_configuration(alias, self._region)

    def delete(self, call: Call) -> Reply:
        ref = self._names.ref(call, allow_qualifier=False)
        self._aliases.delete(call.account_id, ref.name, call.params["Name"])
        return Reply(status=204)

    def list(self, call: Call) -> dict[str, Any]:
        p = call.params
        ref = self._names.ref(call, allow_qualifier=False)
        aliases, marker = self._aliases.list(
            call.account_id, ref.name, p.get("FunctionVersion"), p.get("Marker"), p.get("MaxItems")
        )
        body: dict[str, Any] = {"Aliases": [alias_configuration(a, self._region) for a in aliases]}
        if marker:
            body["NextMarker"] = marker
        return body


def _weights(p: dict[str, Any]) -> dict[str, float]:
    routing = p.get("RoutingConfig") or {}
    return {k: float(v) for k, v in (routing.get("AdditionalVersionWeights") or {}).items()}
