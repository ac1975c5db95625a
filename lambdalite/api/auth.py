"""Authenticating a request: SigV4 against the accounts' keys, and reading its body."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
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

    async def authenticate(self, request: Request, body: bytes) -> str:
        """The id of the account whose key signed this request, or a 403 ApiError."""
        return await self.authenticate_signed(signed_request(request, body))

    async def authenticate_signed(self, signed: SignedRequest) -> str:
        """`authenticate` for a request already taken apart (the Invoke fast path).

        A key seen before is verified right here on the event loop (pure CPU, tens of
        microseconds); only an unknown key costs a thread-pool hop for the store lookup.
        """
        try:
            return self._verify(signed, self._cached_secret)
        except _NotCached:
            return await run_in_threadpool(self._verify, signed, self._accounts.secret_for)

    def account_of(self, request: Request, body: bytes) -> str:
        """`authenticate` for callers on a worker thread (may read the store)."""
        return self._verify(signed_request(request, body), self._accounts.secret_for)

    def _verify(self, signed: SignedRequest, secret_for: Callable[[str], str | None]) -> str:
        credential = verify(signed, secret_for, self._clock(), self._max_skew)
        key = self._accounts.cached(credential.access_key_id) or self._accounts.key(
            credential.access_key_id
        )
        if key is None:  # deleted between the two lookups
            raise UnrecognizedClientException(
                "The security token included in the request is invalid."
            )
        return key.account_id

    def _cached_secret(self, access_key_id: str) -> str | None:
        key = self._accounts.cached(access_key_id)
        if key is None:
            raise _NotCached
        return key.secret_access_key


class _NotCached(Exception):
    """The key is not in memory yet: verify on a worker thread, which may read the store."""


async def read_body(request: Request, limit: int, operation: str | None = None) -> bytes:
    """The whole body, refusing (before reading it all) one larger than `limit`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(limit, operation)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit, operation)
        chunks.append(chunk)
    return b"".join(chunks)


def signed_request(request: Request, body: bytes) -> SignedRequest:
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    return SignedRequest(
        method=request.method,
        raw_path=raw_path.decode("latin-1").partition("?")[0],
        query_string=request.scope.get("query_string", b"").decode("latin-1"),
        headers=_headers(request),
        body=body,
    )


def too_large(limit: int, operation: str | None) -> RequestTooLargeException:
    where = f" for the {operation} operation" if operation else ""
    return RequestTooLargeException(f"Request must be smaller than {limit} bytes{where}")


def _headers(request: Request) -> dict[str, str]:
    merged: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        merged.setdefault(name.lower(), []).append(value)
    return {name: ",".join(values) for name, values in merged.items()}
