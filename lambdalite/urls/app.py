"""FunctionUrlApp: one HTTP request to a function URL, end to end.

the URL's configuration (unknown id -> 403, as AWS answers)
CORS preflight -> answered from the configuration, the function does not run
the body (6 MB at most -> else 413), then for AWS_IAM the SigV4 signature, checked
  by the same Authenticator as the API (another account needs a policy statement)
the payload 2.0 event -> Invoker.invoke, synchronously, with the event's requestId
the result -> the HTTP response (502 on a function error, 429 when throttled),
  with the configured CORS headers
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from lambdalite.api.auth import Authenticator, read_body
from lambdalite.errors import (
    ApiError,
    MissingAuthenticationTokenException,
    RequestTooLargeException,
    ResourceNotFoundException,
    TooManyRequestsException,
)
from lambdalite.invoke.invoker import Runner
from lambdalite.invoke.request_ids import RequestIds
from lambdalite.urls.cors import CorsRules
from lambdalite.urls.directory import UrlDirectory
from lambdalite.urls.model import AuthType, FunctionUrlConfig
from lambdalite.urls.policy import PolicyService
from lambdalite.urls.request_event import (
    Caller,
    UrlRequest,
    UrlTarget,
    request_event,
    with_forwarding,
)
from lambdalite.urls.response_mapping import UrlResponse, from_result, message
from lambdalite.urls.router import UrlMatch

log = logging.getLogger(__name__)
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


class _Refused(Exception):
    def __init__(self, response: UrlResponse) -> None:
        self.response = response


class FunctionUrlApp:
    def __init__(
        self,
        directory: UrlDirectory,
        runner: Runner,
        auth: Authenticator,
        policy: PolicyService,
        region: str,
        max_payload_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._directory = directory
        self._runner = runner
        self._auth = auth
        self._policy = policy
        self._region = region
        self._limit = max_payload_bytes
        self._clock = clock
        self._request_ids = RequestIds()

    async def serve(self, scope: Scope, receive: Receive, send: Send, match: UrlMatch) -> None:
        request_id = self._request_ids.new()
        request = Request(scope, receive)
        config: FunctionUrlConfig | None = None
        try:
            config = await self._directory.get(match.url_id)
            if config is None:
                raise _Refused(message(403, "Forbidden"))
            response = await self._respond(request, match, config, request_id)
        except _Refused as refused:
            response = refused.response
        except TooManyRequestsException as exc:
            response = message(429, exc.message or "Rate Exceeded.")
        except ResourceNotFoundException:
            # The function or alias went away under the URL: as if it had no URL.
            response = message(403, "Forbidden")
        except RequestTooLargeException as exc:
            response = message(413, exc.message)
        except ApiError as exc:
            log.warning("function URL %s: %s: %s", match.url_id, exc.error_type, exc.message)
            response = message(500, "Internal Server Error")
        except Exception:  # a bug of ours: logged, never a traceback to the client
            log.exception("function URL %s: request %s failed", match.url_id, request_id)
            response = message(500, "Internal Server Error")
        origin = request.headers.get("origin")
        if config and config.cors and origin and not isinstance(response, _Preflight):
            response.headers = CorsRules(config.cors).apply(response.headers, origin)
        response.headers.append(("x-amzn-requestid", request_id))
        await _send(send, response)

    async def _respond(
        self, request: Request, match: UrlMatch, config: FunctionUrlConfig, request_id: str
    ) -> UrlResponse:
        origin = request.headers.get("origin")
        if (
            request.method == "OPTIONS"
            and config.cors is not None
            and origin
            and "access-control-request-method" in request.headers
        ):
            return _Preflight(200, CorsRules(config.cors).preflight(origin))
        body = await read_body(request, self._limit, "InvokeFunction")
        caller = None
        if config.auth_type is AuthType.AWS_IAM:
            caller = await self._authorize(request, body, config)
        scope = request.scope
        source_ip = (scope.get("client") or ("127.0.0.1", 0))[0]
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        server = scope.get("server") or (None, None)
        url_request = UrlRequest(
            method=request.method,
            raw_path=match.raw_path,
            raw_query=scope.get("query_string", b"").decode("latin-1"),
            headers=with_forwarding(headers, source_ip, scope.get("scheme", "http"), server[1]),
            body=body,
            source_ip=source_ip,
            protocol=f"HTTP/{scope.get('http_version', '1.1')}",
        )
        target = UrlTarget(
            match.url_id, match.host or config.domain_name(self._region), config.account_id
        )
        event = request_event(url_request, target, request_id, self._clock(), caller)
        payload = json.dumps(event, separators=(",", ":")).encode()
        if len(payload) > self._limit:
            raise RequestTooLargeException(
                f"Request must be smaller than {self._limit} bytes for the InvokeFunction operation"
            )
        result = await self._runner.invoke(
            config.account_id,
            config.function_name,
            config.invoked_qualifier,
            payload,
            request_id=request_id,
            trigger="url",  # usage records say what triggered each invocation (0603)
        )
        return from_result(result.payload, result.function_error)

    async def _authorize(self, request: Request, body: bytes, config: FunctionUrlConfig) -> Caller:
        """The signing account, which must own the function or be granted by its policy."""
        try:
            account_id = await self._auth.authenticate(request, body)
        except MissingAuthenticationTokenException:
            raise _Refused(message(403, "Forbidden")) from None
        except ApiError as exc:  # a bad, expired or unknown signature: say why
            raise _Refused(message(403, exc.message)) from None
        if account_id != config.account_id and not await run_in_threadpool(
            self._policy.allows_url, config, account_id
        ):
            raise _Refused(message(403, "Forbidden"))
        return Caller(_access_key(request), account_id)


class _Preflight(UrlResponse):
    """A preflight answer: CORS headers already set, no others added."""


def _access_key(request: Request) -> str:
    found = _CREDENTIAL.search(request.headers.get("authorization", ""))
    if found is None:
        found = _CREDENTIAL.search("Credential=" + request.query_params.get("X-Amz-Credential", ""))
    return found[1] if found else ""


async def _send(send: Send, response: UrlResponse) -> None:
    try:
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    except UnicodeEncodeError:  # a function's header value HTTP cannot carry
        return await _send(send, message(502, "Internal Server Error"))
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
