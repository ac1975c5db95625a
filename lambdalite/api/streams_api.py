"""Registered Redis streams over HTTP: lambdalite's own endpoints, signed with SigV4.

    POST   /_lambdalite/streams          {"StreamName", "RedisUrl", "Key"?}
    GET    /_lambdalite/streams          the account's streams (URLs without passwords)
    DELETE /_lambdalite/streams/{name}   refused while a mapping reads it

A registered stream is mapped with boto3's create_event_source_mapping and the
`StreamArn` this returns (docs/decisions/0504-redis-streams.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lambdalite.api.auth import Authenticator, read_body
from lambdalite.api.responses import error_response, internal_error
from lambdalite.errors import ApiError, InvalidRequestContentException
from lambdalite.streams.registry import RegisteredStream, StreamRegistry

MAX_BODY_BYTES = 64 * 1024
PATH = "/_lambdalite/streams"


class StreamsApi:
    def __init__(self, registry: StreamRegistry, auth: Authenticator) -> None:
        self._registry = registry
        self._auth = auth

    def routes(self) -> list[Route]:
        return [
            Route(PATH, self._endpoint(self._create), methods=["POST"]),
            Route(PATH, self._endpoint(self._list), methods=["GET"]),
            Route(f"{PATH}/{{name}}", self._endpoint(self._delete), methods=["DELETE"]),
        ]

    def _endpoint(
        self, work: Callable[[str, Request, bytes], Response]
    ) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            request_id = request.headers.get("x-amz-request-id", "streams")
            try:
                body = await read_body(request, MAX_BODY_BYTES)
                caller = await self._auth.authenticate(request, body)
                response: Response = await run_in_threadpool(work, caller, request, body)
            except ApiError as error:
                return error_response(error, request_id)
            except Exception as exc:
                return internal_error(exc, request_id)
            return response

        return endpoint

    def _create(self, caller: str, request: Request, body: bytes) -> Response:
        try:
            document = json.loads(body or b"{}")
        except ValueError as exc:
            raise InvalidRequestContentException(f"Could not parse request body: {exc}") from None
        name = document.get("StreamName") if isinstance(document, dict) else None
        url = document.get("RedisUrl") if isinstance(document, dict) else None
        key = document.get("Key") if isinstance(document, dict) else None
        if not isinstance(name, str) or not isinstance(url, str):
            raise InvalidRequestContentException("StreamName and RedisUrl (strings) are required.")
        if key is not None and not isinstance(key, str):
            raise InvalidRequestContentException("Key is a string.")
        found = self._registry.register(caller, name, url, key)
        return JSONResponse(self._json(found), status_code=201)

    def _list(self, caller: str, request: Request, body: bytes) -> Response:
        return JSONResponse({"Streams": [self._json(s) for s in self._registry.of_account(caller)]})

    def _delete(self, caller: str, request: Request, body: bytes) -> Response:
        self._registry.remove(caller, request.path_params["name"])
        return Response(status_code=204)

    def _json(self, stream: RegisteredStream) -> dict[str, Any]:
        return {
            "StreamName": stream.name,
            "StreamArn": self._registry.arn(stream.account_id, stream.name),
            "Key": stream.location.key,
            "Redis": stream.location.shown,
            "CreatedAt": stream.created_at,
        }
