"""A function's result as the HTTP response of its URL ("Invoking Lambda function URLs",
Response payload format).

    a JSON object with statusCode  -> that response: headers, cookies (one Set-Cookie
                                      each), body (base64-decoded if isBase64Encoded)
    any other JSON                 -> 200, content-type application/json, the JSON as body
    a function error, or a result  -> 502 {"Message":"Internal Server Error"}
    that cannot be a response
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

# Framing is the server's business: a function's own values could contradict the body.
_DROPPED = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


@dataclass
class UrlResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)

    def set_header(self, name: str, value: str) -> None:
        """Replace every header of that name (case-insensitively) with one."""
        lower = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != lower]
        self.headers.append((name, value))


class NotAResponse(Exception):
    """The function's result cannot be mapped to an HTTP response."""


def message(status: int, text: str) -> UrlResponse:
    """The platform's own answers: AWS's `{"Message": ...}` JSON body."""
    body = json.dumps({"Message": text}, separators=(",", ":")).encode()
    return UrlResponse(status, [("content-type", "application/json")], body)


def internal_error() -> UrlResponse:
    return message(502, "Internal Server Error")


def from_result(payload: bytes, function_error: str | None) -> UrlResponse:
    if function_error is not None:
        return internal_error()
    try:
        return _mapped(payload)
    except NotAResponse:
        return internal_error()


def _mapped(payload: bytes) -> UrlResponse:
    try:
        result = json.loads(payload) if payload.strip() else None
    except (UnicodeDecodeError, ValueError):
        raise NotAResponse from None
    if not isinstance(result, dict) or "statusCode" not in result:
        return UrlResponse(200, [("content-type", "application/json")], payload)
    status = result["statusCode"]
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise NotAResponse
    response = UrlResponse(status, _headers(result.get("headers")), _body(result))
    for cookie in _cookies(result.get("cookies")):
        response.headers.append(("set-cookie", cookie))
    if response.header("content-type") is None:
        response.headers.append(("content-type", "application/json"))
    return response


def _headers(value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, dict):
        raise NotAResponse
    headers = []
    for name, item in value.items():
        if not isinstance(name, str) or isinstance(item, dict | list) or item is None:
            raise NotAResponse
        if name.lower() in _DROPPED:
            continue
        text = ("true" if item else "false") if isinstance(item, bool) else str(item)
        headers.append((name, text))
    return headers


def _cookies(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise NotAResponse
    return value


def _body(result: dict[str, Any]) -> bytes:
    body = result.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        # Not a string: sent as its JSON, as a JSON result without statusCode would be.
        return json.dumps(body).encode()
    if result.get("isBase64Encoded") is True:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise NotAResponse from None
    return body.encode()
