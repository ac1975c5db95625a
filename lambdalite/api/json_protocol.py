"""AWS's JSON protocol as one ASGI app: every JSON service (SQS now; EventBridge and
CloudWatch Logs next) behind one door.

A request is `POST /` with `X-Amz-Target: <targetPrefix>.<Operation>` and a JSON body
(botocore `serialize.py`, JSONSerializer). The app authenticates it with the same SigV4
accounts as the Lambda API, picks the service by target prefix, reads and checks the
input against that service's botocore model, calls the handler and renders JSON or the
error envelope `{"__type": ..., "message": ...}` (botocore `parsers.py`, BaseJSONParser).
Never HTML, never a traceback.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import logging
import uuid
from collections.abc import Iterable
from typing import Any

import botocore.session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from lambdalite.api.auth import Authenticator, read_body
from lambdalite.api.dispatcher import Call, Handler
from lambdalite.api.responses import Reply
from lambdalite.api.validation import validate
from lambdalite.errors import ApiError, ServiceException
from lambdalite.errors import UnknownOperationException as _UnknownOperation
from lambdalite.errors import UnsupportedOperationException as _UnsupportedOperation

TARGET_HEADER = "x-amz-target"
log = logging.getLogger(__name__)


# The JSON protocol's own errors (AWS's front end, "coral", answers them before any
# service sees the request), so they live with the protocol.
class SerializationException(ApiError):
    pass


class UnknownOperationException(_UnknownOperation):
    status = 400


class JsonService:
    """One service on the JSON protocol. Subclasses give the prefix, model and handlers,
    and may override how input is checked and errors look (SQS does both)."""

    target_prefix: str = ""
    model_name: str = ""

    def handlers(self) -> dict[str, Handler]:
        raise NotImplementedError

    def check_input(self, operation: Any, params: dict[str, Any]) -> None:
        """Apply the model's constraints; AWS's ValidationException by default."""
        validate(operation.input_shape, params)

    def unsupported(self, operation: str) -> ApiError:
        return _UnsupportedOperation(f"lambdalite does not support the {operation} operation yet.")

    def error_type(self, error: ApiError) -> str:
        """The `__type` of an error's body; botocore keeps what follows any `#`."""
        return error.error_type

    def error_headers(self, error: ApiError) -> dict[str, str]:
        return {}


class JsonProtocolApi:
    def __init__(
        self, services: Iterable[JsonService], auth: Authenticator, max_request_bytes: int
    ) -> None:
        self._services = {service.target_prefix: service for service in services}
        self._models = {
            service.target_prefix: botocore.session.get_session().get_service_model(
                service.model_name
            )
            for service in self._services.values()
        }
        self._handlers = {prefix: s.handlers() for prefix, s in self._services.items()}
        self._auth = auth
        self._max_request_bytes = max_request_bytes

    def handles(self, scope: Scope) -> bool:
        """Whether a request is for this app: an HTTP request with X-Amz-Target."""
        return scope["type"] == "http" and any(
            name == TARGET_HEADER.encode() for name, _ in scope.get("headers", [])
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        request_id = str(uuid.uuid4())
        target = request.headers.get(TARGET_HEADER, "")
        prefix, _, operation = target.rpartition(".")
        service = self._services.get(prefix)
        content_type = _content_type(self._models.get(prefix))
        try:
            response = await self._respond(request, request_id, prefix, operation)
        except ApiError as error:
            response = _error_response(error, service, request_id, content_type)
        except Exception:  # a bug of ours: logged, never a traceback to the client
            log.exception("request %s failed", request_id)
            failure = ServiceException("The service encountered an internal error.")
            response = _error_response(failure, service, request_id, content_type)
        await response(scope, receive, send)

    async def _respond(self, request: Request, request_id: str, prefix: str, name: str) -> Response:
        body = await read_body(request, self._max_request_bytes)
        account_id = await self._auth.authenticate(request, body)
        service = self._services.get(prefix)
        model = self._models.get(prefix)
        if service is None or model is None or name not in model.operation_names:
            raise UnknownOperationException(
                f"No operation {name or '(none)'} on target {prefix or '(none)'}"
            )
        if request.method != "POST":
            raise UnknownOperationException(f"{name} must be sent with POST")
        operation = model.operation_model(name)
        handler = self._handlers[prefix].get(name)
        if handler is None:
            raise service.unsupported(name)
        params = _read_input(operation.input_shape, body)
        service.check_input(operation, params)
        call = Call(name, account_id, params, request_id, _base_url(request))
        if inspect.iscoroutinefunction(handler):
            result = await handler(call)
        else:
            result = await run_in_threadpool(handler, call)
        if isinstance(result, Reply):
            result = result.body
        content = json.dumps(result or {}, separators=(",", ":")).encode()
        return Response(
            content,
            headers={"x-amzn-RequestId": request_id},
            media_type=_content_type(model),
        )


def _read_input(shape: Any, body: bytes) -> dict[str, Any]:
    if shape is None:
        return {}
    if not body.strip():
        document: Any = {}
    else:
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise SerializationException("The request body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise SerializationException("The request body must be a JSON object.")
    params: dict[str, Any] = _from_json(shape, document, shape.name)
    return params


def _from_json(shape: Any, value: Any, where: str) -> Any:
    """A JSON value checked against its shape's type; blobs decoded from base64. Members
    the shape does not know are ignored, as AWS's JSON front end does."""
    kind = shape.type_name
    if kind == "structure":
        _expect(isinstance(value, dict), where, kind, value)
        return {
            name: _from_json(member, value[name], f"{where}.{name}")
            for name, member in shape.members.items()
            if value.get(name) is not None
        }
    if kind == "list":
        _expect(isinstance(value, list), where, kind, value)
        return [_from_json(shape.member, item, f"{where}.member") for item in value]
    if kind == "map":
        _expect(isinstance(value, dict), where, kind, value)
        return {
            _from_json(shape.key, key, f"{where}.key"): _from_json(
                shape.value, item, f"{where}.{key}"
            )
            for key, item in value.items()
        }
    if kind == "blob":
        _expect(isinstance(value, str), where, kind, value)
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SerializationException(f"{where}: the value is not base64") from None
    if kind == "boolean":
        _expect(isinstance(value, bool), where, kind, value)
    elif kind in ("integer", "long"):
        _expect(isinstance(value, int) and not isinstance(value, bool), where, kind, value)
    elif kind in ("float", "double", "timestamp"):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        _expect(number or (kind == "timestamp" and isinstance(value, str)), where, kind, value)
    elif kind == "string":
        _expect(isinstance(value, str), where, kind, value)
    return value


def _expect(ok: bool, where: str, kind: str, value: Any) -> None:
    if not ok:
        shown = value if isinstance(value, str | int | float) else type(value).__name__
        raise SerializationException(f"Cannot deserialize value {shown!r} at {where} as {kind}")


def _error_response(
    error: ApiError, service: JsonService | None, request_id: str, content_type: str
) -> Response:
    kind = service.error_type(error) if service else error.error_type
    headers = {"x-amzn-RequestId": request_id, **(service.error_headers(error) if service else {})}
    content = json.dumps({"__type": kind, "message": error.message}).encode()
    return Response(content, status_code=error.status, headers=headers, media_type=content_type)


def _content_type(model: Any) -> str:
    version = model.metadata.get("jsonVersion", "1.0") if model is not None else "1.0"
    return f"application/x-amz-json-{version}"


def _base_url(request: Request) -> str:
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}"


class JsonProtocolRouter:
    """ASGI middleware: requests with X-Amz-Target go to the JSON-protocol app, the rest
    on to the wrapped app (`app.add_middleware(JsonProtocolRouter, json_api=...)`)."""

    def __init__(self, app: ASGIApp, json_api: JsonProtocolApi) -> None:
        self._app = app
        self._json_api = json_api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = self._json_api if self._json_api.handles(scope) else self._app
        await target(scope, receive, send)
