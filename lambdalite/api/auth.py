"""Authenticating a request: SigV4 against the accounts' keys, and reading its body."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from starlette.requests import Request

from lambdalite.api.sigv4 import SignedRequest, verify
from lambdalite.control.accounts import AccountService
from lambdalite.errors import RequestTooLargeException, UnrecognizedClientException


class Authenticator:
    def __init__(
        self,
        accounts: AccountService,
        max_skew_seconds: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._accounts = accounts
        self._max_skew = max_skew_seconds
        self._clock = clock

    def account_of(self, request: Request, body: bytes) -> str:
        """The id of the account whose key signed this request, or a 403 ApiError."""
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        signed = SignedRequest(
            method=request.method,
            raw_path=raw_path.decode("latin-1").partition("?")[0],
            query_string=request.scope.get("query_string", b"").decode("latin-1"),
            headers=_headers(request),
            body=body,
        )
        credential = verify(signed, self._accounts.secret_for, self._clock(), self._max_skew)
        key = self._accounts.key(credential.access_key_id)
        if key is None:  # deleted between the two lookups
            raise UnrecognizedClientException(
                "The security token included in the request is invalid."
            )
        return key.account_id


async def read_body(request: Request, limit: int, operation: str | None = None) -> bytes:
    """The whole body, refusing (before reading it all) one larger than `limit`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, operation)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, operation)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int, operation: str | None) -> RequestTooLargeException:
    where = f" for the {operation} operation" if operation else ""
    return RequestTooLargeException(f"Request must be smaller than {limit} bytes{where}")


def _headers(request: Request) -> dict[str, str]:
    merged: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        merged.setdefault(name.lower(), []).append(value)
    return {name: ",".join(values) for name, values in merged.items()}
