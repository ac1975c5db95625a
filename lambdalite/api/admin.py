"""lambdalite's own endpoints beside the Lambda API: health and account administration."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lambdalite.api.auth import Authenticator, read_body
from lambdalite.api.responses import error_response, internal_error
from lambdalite.control.accounts import AccountService
from lambdalite.errors import AccessDeniedException, ApiError, InvalidRequestContentException

ACCOUNT_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class AdminApi:
    def __init__(
        self, accounts: AccountService, auth: Authenticator, health: Callable[[], dict[str, Any]]
    ) -> None:
        self._accounts = accounts
        self._auth = auth
        self._health = health

    async def health(self, request: Request) -> Response:
        return JSONResponse(self._health())

    async def create_account(self, request: Request) -> Response:
        """POST /_lambdalite/accounts {"Name": ...}: root only; returns the new key once."""
        request_id = request.headers.get("x-amz-request-id", "admin")
        try:
            body = await read_body(request, 64 * 1024)
            caller = await self._auth.authenticate(request, body)
            if not await run_in_threadpool(self._accounts.is_root, caller):
                raise AccessDeniedException("Only the root account can create accounts.")
            name = _account_name(body)
            account, key = await run_in_threadpool(self._accounts.create, name)
        except ApiError as error:
            return error_response(error, request_id)
        except Exception as exc:
            return internal_error(exc, request_id)
        return JSONResponse(
            {
                "AccountId": account.account_id,
                "Name": account.name,
                "AccessKeyId": key.access_key_id,
                "SecretAccessKey": key.secret_access_key,
            },
            status_code=201,
        )


def _account_name(body: bytes) -> str:
    try:
        document = json.loads(body or b"{}")
    except json.JSONDecodeError as exc:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: {exc}"
        ) from None
    name = document.get("Name") if isinstance(document, dict) else None
    if not isinstance(name, str) or not 1 <= len(name) <= 64 or set(name) - ACCOUNT_NAME_CHARS:
        raise InvalidRequestContentException(
            "Name must be 1-64 characters of letters, digits, '-', '_' or '.'."
        )
    return name
