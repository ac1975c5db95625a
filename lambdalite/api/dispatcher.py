"""The Lambda REST API as one ASGI app: authenticate, route, parse, validate, call, render.

Handlers are plain functions `handler(call) -> Reply | dict | None`; blocking ones (all of
the control plane: they touch the database) run on the thread pool so the event loop keeps
serving invocations. A handler may also be `async` when it waits on the engine.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from lambdalite.api.auth import Authenticator, read_body
from lambdalite.api.operations import Match, OperationTable, parse_input
from lambdalite.api.responses import Reply, error_response, internal_error, render
from lambdalite.api.validation import validate
from lambdalite.errors import ApiError, UnsupportedOperationException


@dataclass(frozen=True)
class Call:
    """One authenticated API call, as a handler sees it."""

    operation: str
    account_id: str
    params: dict[str, Any]
    request_id: str
    base_url: str  # scheme://host[:port] the client used, for URLs we hand back


_READ_ONLY_PREFIXES = ("Get", "List", "Invoke")
# The names AWS's 413 messages use where they differ from the model's operation names.
_AWS_OPERATION_NAMES = {"Invoke": "InvokeFunction"}

HandlerResult = Reply | dict[str, Any] | None
Handler = Callable[[Call], HandlerResult] | Callable[[Call], Awaitable[HandlerResult]]


class LambdaApi:
    def __init__(
        self,
        table: OperationTable,
        handlers: Mapping[str, Handler],
        auth: Authenticator,
        max_request_bytes: int,
        body_limits: Mapping[str, int] | None = None,
        on_write: Callable[[str], None] = lambda _account: None,
    ) -> None:
        self._table = table
        self._handlers = dict(handlers)
        self._auth = auth
        self._max_request_bytes = max_request_bytes
        self._body_limits = dict(body_limits or {})
        self._on_write = on_write

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        request_id = str(uuid.uuid4())
        try:
            response = await self._respond(request, request_id)
        except ApiError as error:
            response = error_response(error, request_id)
        except Exception as exc:  # a bug of ours: logged, never a traceback to the client
            response = internal_error(exc, request_id)
        await response(scope, receive, send)

    async def _respond(self, request: Request, request_id: str) -> Response:
        query = parse_qs(request.url.query, keep_blank_values=True)
        # Route first, to apply the operation's own body limit, but report a routing
        # error only to an authenticated caller.
        try:
            match: Match | None = self._table.match(request.method, request.url.path, query)
        except ApiError as error:
            match, routing_error = None, error
        name = match.operation.name if match else None
        limit = self._body_limits.get(name or "", self._max_request_bytes)
        body = await read_body(request, limit, _AWS_OPERATION_NAMES.get(name or "", name))
        account_id = await self._auth.authenticate(request, body)
        if match is None:
            raise routing_error
        operation = match.operation
        handler = self._handlers.get(operation.name)
        if handler is None:
            raise UnsupportedOperationException(
                f"lambdalite does not support the {operation.name} operation yet."
            )
        headers = {k.lower(): v for k, v in request.headers.items()}
        params = parse_input(operation, match.path_params, query, headers, body)
        validate(operation.input_shape, params)
        call = Call(operation.name, account_id, params, request_id, _base_url(request))
        if inspect.iscoroutinefunction(handler):
            result = await handler(call)
        else:
            result = await run_in_threadpool(handler, call)
        if not operation.name.startswith(_READ_ONLY_PREFIXES):
            # Anything cached about the account (the Invoker's targets) is now stale.
            self._on_write(account_id)
        reply = result if isinstance(result, Reply) else Reply(body=result)
        return render(reply, int(operation.http.get("responseCode", 200)), request_id)


def _base_url(request: Request) -> str:
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}"
