"""Calls to lambdalite's own endpoints (/_lambdalite/...) from the CLI, signed with SigV4
like every Lambda call, with their errors turned into one clear line."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import botocore.auth
import botocore.awsrequest
import httpx

from lambdalite.cli.client import target

# main's `_fail(message)`: the line on stderr, and exit 1.
Fail = Callable[[str], Any]


def call(
    fail: Fail,
    method: str,
    path: str,
    document: dict[str, Any] | None = None,
    content: bytes | None = None,
    expect: tuple[int, ...] = (200, 201, 204),
) -> httpx.Response:
    """`path` is sent as given (quote keys with `quoted`); the answer if its status is
    expected, else `fail` with the server's error."""
    where = target()
    body = json.dumps(document).encode() if document is not None else (content or b"")
    url = f"{where.endpoint}{path}"
    headers = {"Content-Type": "application/json"} if document is not None else {}
    request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=headers)
    credentials = where.session.get_credentials()
    if credentials is None:
        fail(
            "no credentials: run this on the server's machine (it reads ~/.lambdalite/"
            "credentials), or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
        )
    region = where.session.region_name or "us-east-1"
    botocore.auth.SigV4Auth(credentials, "lambda", region).add_auth(request)
    try:
        response = httpx.request(
            method, url, content=body, headers=dict(request.headers.items()), timeout=300
        )
    except httpx.TransportError:
        fail(
            f"cannot reach lambdalite at {where.endpoint}: is `lambdalite serve` running? "
            "(set LAMBDALITE_ENDPOINT to use another address)"
        )
        raise  # unreachable: fail exits
    if response.status_code not in expect:
        fail(describe_error(response))
    return response


def describe_error(response: httpx.Response) -> str:
    kind = response.headers.get("x-amzn-ErrorType", f"HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        return f"{kind}: {response.text[:200]}"
    message = body.get("message") or body.get("Message") if isinstance(body, dict) else None
    return f"{kind}: {message or body}"


def quoted(key: str) -> str:
    """An object key in a URL path: '/' kept, everything else percent-encoded."""
    return quote(key, safe="/")
