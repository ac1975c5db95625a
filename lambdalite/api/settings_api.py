"""Handlers: tags, reserved concurrency, and GetAccountSettings."""

from __future__ import annotations

from typing import Any

from lambdalite.api.dispatcher import Call, Handler
from lambdalite.api.functions import FunctionsApi
from lambdalite.api.responses import Reply
from lambdalite.control.arns import parse_function_name
from lambdalite.control.concurrency import ConcurrencyService
from lambdalite.control.tags import TagService
from lambdalite.errors import InvalidParameterValueException


class SettingsApi:
    def __init__(
        self,
        tags: TagService,
        concurrency: ConcurrencyService,
        names: FunctionsApi,
        region: str,
    ) -> None:
        self._tags = tags
        self._concurrency = concurrency
        self._names = names
        self._region = region

    def handlers(self) -> dict[str, Handler]:
        return {
            "TagResource": self.tag,
            "UntagResource": self.untag,
            "ListTags": self.list_tags,
            "PutFunctionConcurrency": self.put_concurrency,
            "GetFunctionConcurrency": self.get_concurrency,
            "DeleteFunctionConcurrency": self.delete_concurrency,
            "GetAccountSettings": self.account_settings,
        }

    def _resource(self, call: Call) -> str:
        arn: str = call.params["Resource"]
        if not arn.startswith("arn:"):
            raise InvalidParameterValueException(f"Invalid resource ARN: {arn}")
        ref = parse_function_name(arn, account_id=call.account_id, region=self._region)
        if ref.qualifier:
            raise InvalidParameterValueException(
                "Tags are not supported on function versions or aliases: use the unqualified "
                "function ARN."
            )
        return ref.name

    def tag(self, call: Call) -> Reply:
        self._tags.tag(call.account_id, self._resource(call), call.params["Tags"])
        return Reply(status=204)

    def untag(self, call: Call) -> Reply:
        self._tags.untag(call.account_id, self._resource(call), call.params["TagKeys"])
        return Reply(status=204)

    def list_tags(self, call: Call) -> dict[str, Any]:
        return {"Tags": self._tags.tags(call.account_id, self._resource(call))}

    def put_concurrency(self, call: Call) -> dict[str, Any]:
        name = self._names.ref(call, allow_qualifier=False).name
        value = call.params["ReservedConcurrentExecutions"]
        self._concurrency.reserve(call.account_id, name, value)
        return {"ReservedConcurrentExecutions": value}

    def get_concurrency(self, call: Call) -> dict[str, Any]:
        name = self._names.ref(call, allow_qualifier=False).name
        value = self._concurrency.reserved(call.account_id, name)
        return {} if value is None else {"ReservedConcurrentExecutions": value}

    def delete_concurrency(self, call: Call) -> Reply:
        name = self._names.ref(call, allow_qualifier=False).name
        self._concurrency.release(call.account_id, name)
        return Reply(status=204)

    def account_settings(self, call: Call) -> dict[str, Any]:
        return self._concurrency.account_settings(call.account_id)
