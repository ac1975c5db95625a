"""Handler: Invoke (RequestResponse, DryRun, and Event through the async queue)."""

from __future__ import annotations

import base64
import binascii
import json

from lambdalite.api.dispatcher import Call, Handler
from lambdalite.api.functions import FunctionsApi
from lambdalite.api.responses import Reply
from lambdalite.asyncinvoke import AsyncInvocations
from lambdalite.control.arns import resolve_qualifier
from lambdalite.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    RequestTooLargeException,
)
from lambdalite.invoke.invoker import Invoker
from lambdalite.logs.lines import tail
from lambdalite.metering.timing import HEADER as TIMING_HEADER
from lambdalite.metering.timing import timing

MAX_CLIENT_CONTEXT_BYTES = 3583


class InvokeApi:
    def __init__(
        self, invoker: Invoker, names: FunctionsApi, events: AsyncInvocations | None = None
    ) -> None:
        self._invoker = invoker
        self._names = names
        self._events = events

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
        if kind == "Event" and self._events is not None:
            return await self._event(call, ref.name, qualifier, p.get("Payload", b""))
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

    async def _event(self, call: Call, name: str, qualifier: str | None, payload: bytes) -> Reply:
        """Event: checked as a synchronous payload is (but up to 1 MB), durably stored,
        then 202; every attempt runs with this call's request id, as on AWS."""
        assert self._events is not None
        limit = self._events.max_payload_bytes
        if len(payload) > limit:
            raise RequestTooLargeException(
                f"{len(payload)} byte payload is too large for the Event invocation type "
                f"(limit {limit} bytes)"
            )
        await self._events.accept(
            call.account_id, name, qualifier, _json_payload(payload), call.request_id
        )
        return Reply(status=202)

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
        # lambdalite's own: where the time went (`lambdalite invoke --timing` prints it).
        headers[TIMING_HEADER] = timing(result.outcome, result.queued_ms)
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
