"""A small web app on a function URL: an HTML page at / and a JSON API under /api/.

    GET  /                   the page (index.html, shipped in the function's zip)
    GET  /api/hello?name=Ada {"message": "Hello, Ada!"}
    GET  /api/time           {"utc": "2026-11-26T18:00:00Z", "requestId": "..."}
    POST /api/echo           the JSON it was sent, and how it arrived

The page calls the API with relative URLs (`api/hello`), so it works wherever the URL
is served: lambdalite's `http://127.0.0.1:9000/_lambdalite/url/<url-id>/` or AWS's
`https://<url-id>.lambda-url.<region>.on.aws/`, unchanged.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

PAGE = (Path(__file__).parent / "index.html").read_text()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    method = event["requestContext"]["http"]["method"]
    path = event["rawPath"]
    query = event.get("queryStringParameters") or {}
    if method == "GET" and path in ("/", "/index.html"):
        return {
            "statusCode": 200,
            "headers": {"content-type": "text/html; charset=utf-8"},
            "body": PAGE,
        }
    if method == "GET" and path == "/api/hello":
        name = query.get("name", "world").strip() or "world"
        return _json(200, {"message": f"Hello, {name}!"})
    if method == "GET" and path == "/api/time":
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return _json(200, {"utc": now, "requestId": context.aws_request_id})
    if method == "POST" and path == "/api/echo":
        body = event.get("body") or ""
        if event.get("isBase64Encoded"):
            body = base64.b64decode(body).decode("utf-8", errors="replace")
        try:
            sent = json.loads(body) if body else None
        except ValueError:
            return _json(400, {"message": "send JSON"})
        content_type = event["headers"].get("content-type")
        return _json(200, {"received": sent, "contentType": content_type})
    return _json(404, {"message": f"no page at {method} {path}"})


def _json(status: int, document: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(document),
    }
