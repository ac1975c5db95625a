"""Handler: Invoke (RequestResponse and DryRun; Event arrives with the async queue)."""

from __future__ import annotations

import base64
import binascii
import json

from lambdalite.api.dispatcher import Call, Handler
from lambdalite.api.functions import FunctionsApi
from lambdalite.api.responses import Reply
from lambdalite.control.arns import resolve_qualifier
from lambdalite.errors import InvalidParameterValueException, InvalidRequestContentException
from lambdalite.invoke.invoker import Invoker
from lambdalite.logs.lines import tail

MAX_CLIENT_CONTEXT_BYTES = 3583


class InvokeApi:
    def __init__(self, invoker: Invoker, names: FunctionsApi) -> None:
        self._invoker = invoker
        self._names = names

    def handlers(self) -> dict[str, Handler]:
        return {"Invoke": self.invoke}

    async def invoke(self, call: Call) -> Reply:
        p = call.params
        ref = self._names.ref(call)
        qualifier = resolve_qualifier(ref, p.get("Qualifier"))
        kind = p.get("InvocationType", "RequestResponse")
        if kind == "DryRun":
            version = await self._invoker.check(call.account_id, ref.name, qualifier)
            return Reply(status=204, headers={"X-Amz-Executed-Version": version})
        if kind != "RequestResponse":
            raise InvalidParameterValueException(
                f"lambdalite does not support InvocationType {kind} yet."
            )
        return await self.request_response(
            call.account_id,
            ref.name,
            qualifier,
            p.get("Payload", b""),
            p.get("ClientContext"),
            p.get("LogType"),
            call.request_id,
        )

    async def request_response(
        self,
        account_id: str,
        name: str,
        qualifier: str | None,
        payload: bytes,
        client_context: object,
        log_type: object,
        request_id: str,
    ) -> Reply:
        """A synchronous invocation, from either path (fast_invoke.py, or `invoke` after
        the general dispatcher). The response's request id is the invocation's, as on AWS."""
        result = await self._invoker.invoke(
            account_id,
            name,
            qualifier,
            _json_payload(payload),
            _client_context(client_context),
            request_id,
        )
        headers = {"X-Amz-Executed-Version": result.executed_version}
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        if log_type == "Tail":
            headers["X-Amz-Log-Result"] = tail(result.log)
        headers["Content-Type"] = "application/json"
        return Reply(body=result.payload, status=200, headers=headers)


def _json_payload(payload: bytes) -> bytes:
    """The event must be JSON (AWS checks before running anything); empty means {}."""
    if not payload.strip():
        return b"{}"
    try:
        json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from None
    return payload


def _client_context(encoded: object) -> str | None:
    if not isinstance(encoded, str) or not encoded:
        return None
    if len(encoded) > MAX_CLIENT_CONTEXT_BYTES:
        raise InvalidRequestContentException(
            f"Client context must be no longer than {MAX_CLIENT_CONTEXT_BYTES} bytes."
        )
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
        json.loads(decoded)
    except (binascii.Error, ValueError):
        raise InvalidRequestContentException(
            "Client context must be a valid Base64-encoded JSON object."
        ) from None
    return decoded
