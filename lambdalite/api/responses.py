"""Rendering replies and errors in AWS's REST envelope, in one place."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from lambdalite.errors import ApiError, ServiceException

log = logging.getLogger(__name__)


@dataclass
class Reply:
    """What a handler returns: a JSON-able body (or raw bytes), status and headers."""

    body: Any = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


def render(reply: Reply, default_status: int, request_id: str) -> Response:
    status = reply.status or default_status
    headers = {"x-amzn-RequestId": request_id, **reply.headers}
    if reply.body is None or status == 204:
        return Response(status_code=status, headers=headers)
    if isinstance(reply.body, bytes):
        return Response(reply.body, status_code=status, headers=headers)
    content = json.dumps(reply.body, separators=(",", ":")).encode()
    return Response(content, status_code=status, headers=headers, media_type="application/json")


def error_response(error: ApiError, request_id: str) -> Response:
    return Response(
        error_body(error),
        status_code=error.status,
        headers=error_headers(error, request_id),
        media_type="application/json",
    )


def error_headers(error: ApiError, request_id: str) -> dict[str, str]:
    """An error's headers but its Content-Type (application/json) and -Length."""
    return {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error.error_type}


def error_body(error: ApiError) -> bytes:
    return json.dumps(error.body()).encode()


def internal_error(exc: BaseException, request_id: str) -> Response:
    log.error("request %s failed", request_id, exc_info=exc)
    return error_response(
        ServiceException("The Lambda service encountered an internal error."), request_id
    )
