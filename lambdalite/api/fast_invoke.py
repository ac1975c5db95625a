"""InvokeFastPath: a synchronous Invoke's own way through the server.

Every other request passes uvicorn's ASGI cycle, Starlette's middleware and router, then
LambdaApi: route by botocore's model, parse the query, parse and validate the input
against the model, build request and response objects. For a warm invocation that was
more Python than the invocation itself (decisions 0006 and 0009). An Invoke of the shape
SDKs send for a plain name,

    POST /2015-03-31/functions/<name>/invocations[?Qualifier=<version or alias>]
    X-Amz-Invocation-Type absent or RequestResponse; X-Amz-Log-Type absent, None or Tail

is recognised by the HTTP protocol (invoke_protocol.py) straight from the parsed request
line and headers, and answered here: SigV4, then the same `InvokeApi.request_response`
the general path calls, so the answers and errors are the same. Anything else — ARNs and
encoded names, Event and DryRun, values the model would reject, a body larger than the
limit — goes to the general app untouched, which answers it as before.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from http import HTTPStatus

from lambdalite.api.auth import Authenticator
from lambdalite.api.invoke import InvokeApi
from lambdalite.api.responses import Reply, error_body, error_headers
from lambdalite.api.sigv4 import SignedRequest
from lambdalite.errors import ApiError, ServiceException
from lambdalite.invoke.request_ids import RequestIds

log = logging.getLogger(__name__)

_PREFIX = b"/2015-03-31/functions/"
_SUFFIX = b"/invocations"
# The model's FunctionName also allows ARNs and `name:qualifier`; those take the long way.
_NAME = re.compile(rb"[a-zA-Z0-9_-]{1,64}")
# boto3 percent-encodes `$`: Qualifier=%24LATEST.
_QUALIFIER = re.compile(rb"Qualifier=(%24LATEST|[a-zA-Z0-9_-]{1,128})")
_LOG_TYPES = (None, "None", "Tail")
_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus}


@dataclass(slots=True)
class FastInvoke:
    """An Invoke the fast path serves, as taken from the request line and headers."""

    raw_path: bytes
    query: bytes
    name: str
    qualifier: str | None
    headers: dict[str, str]  # lower-case names; repeated headers joined with ','


@dataclass(slots=True)
class Answer:
    """An HTTP response, whole: the fast path writes it in one piece."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def encode(self, extra_headers: list[tuple[bytes, bytes]], keep_alive: bool) -> bytes:
        """Status line, headers (`extra_headers` first: the server's Date and Server),
        body. The values are all the server's own, never a client's, so none can hold
        a line break."""
        parts = [_STATUS_LINES[self.status]]
        for name, value in (*extra_headers, *self.headers):
            parts += (name, b": ", value, b"\r\n")
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        parts += (b"\r\n", self.body)
        return b"".join(parts)


class InvokeFastPath:
    def __init__(self, auth: Authenticator, invoke: InvokeApi, max_payload_bytes: int) -> None:
        self._auth = auth
        self._invoke = invoke
        self._limit = max_payload_bytes
        self._request_ids = RequestIds()

    def route(
        self, method: bytes, target: bytes, raw_headers: list[tuple[bytes, bytes]]
    ) -> FastInvoke | None:
        """The Invoke this path serves, or None for the general app. `target` is the
        request line's, `raw_headers` have lower-case names (as uvicorn keeps them)."""
        if method != b"POST" or not target.startswith(_PREFIX):
            return None
        raw_path, _, query = target.partition(b"?")
        if not raw_path.endswith(_SUFFIX):
            return None
        name = raw_path[len(_PREFIX) : -len(_SUFFIX)]
        qualifier = _QUALIFIER.fullmatch(query) if query else None
        if not _NAME.fullmatch(name) or (query and qualifier is None):
            return None
        headers = _headers(raw_headers)
        declared = headers.get("content-length", "0")
        if (
            headers.get("x-amz-invocation-type", "RequestResponse") != "RequestResponse"
            or headers.get("x-amz-log-type") not in _LOG_TYPES
            # A function URL addressed by its Host (lambdalite/urls) may have any path.
            or ".lambda-url." in headers.get("host", "")
            # Bodies of known size within the limit only: the general app refuses the
            # rest with 413 before reading them, and reads chunked ones.
            or "transfer-encoding" in headers
            or not declared.isdigit()
            or int(declared) > self._limit
        ):
            return None
        resolved = qualifier[1].replace(b"%24", b"$").decode() if qualifier else None
        return FastInvoke(raw_path, query, name.decode(), resolved, headers)

    async def answer(self, request: FastInvoke, body: bytes) -> Answer:
        """The response to `request`, errors included; never raises."""
        request_id = self._request_ids.new()
        headers = request.headers
        try:
            signed = SignedRequest(
                "POST",
                request.raw_path.decode("latin-1"),
                request.query.decode("latin-1"),
                headers,
                body,
            )
            account_id = await self._auth.authenticate_signed(signed)
            reply = await self._invoke.request_response(
                account_id,
                request.name,
                request.qualifier,
                body,
                headers.get("x-amz-client-context"),
                headers.get("x-amz-log-type"),
                request_id,
            )
        except ApiError as error:
            return error_answer(error, request_id)
        except Exception as exc:  # a bug of ours: logged, never a traceback to the client
            log.error("request %s failed", request_id, exc_info=exc)
            internal = ServiceException("The Lambda service encountered an internal error.")
            return error_answer(internal, request_id)
        return _reply_answer(reply, request_id)


def error_answer(error: ApiError, request_id: str) -> Answer:
    """As `responses.error_response` renders it for the general app."""
    body = error_body(error)
    headers = [
        (k.lower().encode(), v.encode()) for k, v in error_headers(error, request_id).items()
    ]
    headers += [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    return Answer(error.status, headers, body)


def _reply_answer(reply: Reply, request_id: str) -> Answer:
    body = reply.body if isinstance(reply.body, bytes) else b""
    headers = [
        (b"x-amzn-requestid", request_id.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in reply.headers.items()]
    return Answer(reply.status or 200, headers, body)


def _headers(raw_headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Repeated headers are joined with ',' (RFC 9110 5.3)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers
