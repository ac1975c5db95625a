"""InvokeFastPath: a synchronous Invoke's own way through the server.

Every other request passes Starlette's middleware and router, then LambdaApi: route by
botocore's model, parse the query, parse and validate the input against the model, build
request and response objects. For a warm invocation that was more Python than the
invocation itself (decision 0006). An Invoke of the shape SDKs send for a plain name,

    POST /2015-03-31/functions/<name>/invocations[?Qualifier=<version or alias>]
    X-Amz-Invocation-Type absent or RequestResponse; X-Amz-Log-Type absent, None or Tail

is recognised on the raw ASGI scope and served here: the body limit, SigV4, then the
same `InvokeApi.request_response` the general path calls, so the answers and errors are
the same. Anything else — ARNs and encoded names, Event and DryRun, values the model
would reject — goes to the general app untouched, which answers it as before.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lambdalite.api.auth import Authenticator, too_large
from lambdalite.api.invoke import InvokeApi
from lambdalite.api.responses import Reply, error_response, internal_error
from lambdalite.api.sigv4 import SignedRequest
from lambdalite.errors import ApiError
from lambdalite.invoke.request_ids import RequestIds

_PREFIX = b"/2015-03-31/functions/"
_SUFFIX = b"/invocations"
# The model's FunctionName also allows ARNs and `name:qualifier`; those take the long way.
_NAME = re.compile(rb"[a-zA-Z0-9_-]{1,64}")
# boto3 percent-encodes `$`: Qualifier=%24LATEST.
_QUALIFIER = re.compile(rb"Qualifier=(%24LATEST|[a-zA-Z0-9_-]{1,128})")
_LOG_TYPES = (None, "None", "Tail")


class InvokeFastPath:
    def __init__(
        self, app: ASGIApp, auth: Authenticator, invoke: InvokeApi, max_payload_bytes: int
    ) -> None:
        self._app = app
        self._auth = auth
        self._invoke = invoke
        self._limit = max_payload_bytes
        self._request_ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _route(scope) if scope["type"] == "http" else None
        if route is None:
            await self._app(scope, receive, send)
        else:
            await self._serve(scope, receive, send, *route)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        raw_path: bytes,
        name: str,
        qualifier: str | None,
        headers: dict[str, str],
    ) -> None:
        request_id = self._request_ids.new()
        try:
            body = await self._body(receive, headers)
            if body is None:
                return  # the client went away
            signed = SignedRequest(
                "POST",
                raw_path.decode("latin-1"),
                scope["query_string"].decode("latin-1"),
                headers,
                body,
            )
            account_id = await self._auth.authenticate_signed(signed)
            reply = await self._invoke.request_response(
                account_id,
                name,
                qualifier,
                body,
                headers.get("x-amz-client-context"),
                headers.get("x-amz-log-type"),
                request_id,
            )
        except ApiError as error:
            await error_response(error, request_id)(scope, receive, send)
            return
        except Exception as exc:  # a bug of ours: logged, never a traceback to the client
            await internal_error(exc, request_id)(scope, receive, send)
            return
        await _send_reply(send, reply, request_id)

    async def _body(self, receive: Receive, headers: dict[str, str]) -> bytes | None:
        """The whole body, refusing one larger than the Invoke limit before reading it."""
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self._limit:
            raise too_large(self._limit, "InvokeFunction")
        message: Message = await receive()
        body: bytes = message.get("body", b"")
        size = len(body)
        if size > self._limit:
            raise too_large(self._limit, "InvokeFunction")
        if message["type"] == "http.request" and not message.get("more_body"):
            return body  # the common case: one message
        chunks = [body]
        while message["type"] == "http.request" and message.get("more_body"):
            message = await receive()
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self._limit:
                raise too_large(self._limit, "InvokeFunction")
            chunks.append(chunk)
        if message["type"] == "http.disconnect":
            return None
        return b"".join(chunks)


def _route(scope: Scope) -> tuple[bytes, str, str | None, dict[str, str]] | None:
    """(raw path, function name, qualifier, headers) of an Invoke this path serves."""
    raw_path: bytes = scope.get("raw_path") or b""
    if scope["method"] != "POST" or not (
        raw_path.startswith(_PREFIX) and raw_path.endswith(_SUFFIX)
    ):
        return None
    name = raw_path[len(_PREFIX) : -len(_SUFFIX)]
    query: bytes = scope["query_string"]
    qualifier = _QUALIFIER.fullmatch(query) if query else None
    if not _NAME.fullmatch(name) or (query and qualifier is None):
        return None
    headers = _headers(scope)
    if (
        headers.get("x-amz-invocation-type", "RequestResponse") != "RequestResponse"
        or headers.get("x-amz-log-type") not in _LOG_TYPES
        # A function URL addressed by its Host (lambdalite/urls) may have any path.
        or ".lambda-url." in headers.get("host", "")
    ):
        return None
    resolved = qualifier[1].replace(b"%24", b"$").decode() if qualifier else None
    return raw_path, name.decode(), resolved, headers


def _headers(scope: Scope) -> dict[str, str]:
    """Header names are lower-case in ASGI; repeated headers are joined with ','."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


async def _send_reply(send: Send, reply: Reply, request_id: str) -> None:
    body = reply.body if isinstance(reply.body, bytes) else b""
    raw_headers = [
        (b"x-amzn-requestid", request_id.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in reply.headers.items()]
    await send(
        {"type": "http.response.start", "status": reply.status or 200, "headers": raw_headers}
    )
    await send({"type": "http.response.body", "body": body})
