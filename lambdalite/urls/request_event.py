"""An HTTP request to a function URL, as the event the function receives: API Gateway's
payload format version 2.0 with function URLs' placeholders ("Invoking Lambda function
URLs", Request payload format; sample in aws-reference/events/apigw-http-v2.json).

    version "2.0", routeKey and stage "$default"; rawPath and rawQueryString as sent;
    cookies from the Cookie header; headers lower-case, repeated ones joined by ",";
    queryStringParameters decoded, repeated ones joined by ","; requestContext with
    accountId ("anonymous" for AuthType NONE), apiId/domainPrefix (the url-id), http
    {method, path, protocol, sourceIp, userAgent}, requestId, time, timeEpoch and, for
    AWS_IAM, authorizer.iam; body as text when its type is text, else base64.

Keys that function URLs leave out (pathParameters, stageVariables, and body when there
is none) are not sent.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Bodies of these types reach the function as text; any other (or none) as base64, as
# function URLs do (form posts included: application/x-www-form-urlencoded is base64).
_TEXT_TYPES = ("application/json", "application/javascript", "application/xml")
_TEXT_SUFFIXES = ("+json", "+xml")


@dataclass(frozen=True)
class Caller:
    """Who signed an AWS_IAM request (lambdalite's keys belong to accounts, not users)."""

    access_key_id: str
    account_id: str


@dataclass(frozen=True)
class UrlRequest:
    method: str
    raw_path: str  # the path after the URL's prefix, as sent, starting with "/"
    raw_query: str
    headers: list[tuple[str, str]]  # lower-case names, in order, repeats kept
    body: bytes
    source_ip: str
    protocol: str  # "HTTP/1.1"


@dataclass(frozen=True)
class UrlTarget:
    """What the event says about the URL itself."""

    url_id: str
    domain_name: str
    account_id: str  # the function's owner


def request_event(
    request: UrlRequest,
    target: UrlTarget,
    request_id: str,
    now: float,
    caller: Caller | None,
) -> dict[str, Any]:
    headers = _joined(request.headers)
    cookie_header = headers.pop("cookie", None)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookie_header:
        event["cookies"] = [c.strip() for c in cookie_header.split(";") if c.strip()]
    event["headers"] = headers
    if request.raw_query:
        event["queryStringParameters"] = _joined(parse_qsl(request.raw_query, True))
    context: dict[str, Any] = {
        "accountId": caller.account_id if caller else "anonymous",
        "apiId": target.url_id,
    }
    if caller is not None:
        context["authorizer"] = {"iam": _iam(caller)}
    context.update(
        domainName=target.domain_name,
        domainPrefix=target.url_id,
        http={
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        requestId=request_id,
        routeKey="$default",
        stage="$default",
        time=_clf_time(now),
        timeEpoch=int(now * 1000),
    )
    event["requestContext"] = context
    if request.body:
        text = _as_text(request.body, headers.get("content-type"))
        event["body"] = text if text is not None else base64.b64encode(request.body).decode()
        event["isBase64Encoded"] = text is None
    else:
        event["isBase64Encoded"] = False
    return event


def with_forwarding(
    headers: list[tuple[str, str]], source_ip: str, scheme: str, port: int | None
) -> list[tuple[str, str]]:
    """The headers AWS's front end adds before a function sees a request: the client's
    address, scheme and port (x-forwarded-*), and a trace id when none came."""
    names = {name for name, _ in headers}
    added = [(n, v) for n, v in headers if n != "x-forwarded-for"]
    forwarded = [v for n, v in headers if n == "x-forwarded-for"]
    added.append(("x-forwarded-for", ", ".join([*forwarded, source_ip])))
    if "x-forwarded-proto" not in names:
        added.append(("x-forwarded-proto", scheme))
    if "x-forwarded-port" not in names and port is not None:
        added.append(("x-forwarded-port", str(port)))
    if "x-amzn-trace-id" not in names:
        stamp = f"{int(time.time()):08x}"
        added.append(("x-amzn-trace-id", f"Root=1-{stamp}-{secrets.token_hex(12)}"))
    return added


def _joined(pairs: list[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def _iam(caller: Caller) -> dict[str, Any]:
    # The caller is an account's key (no IAM users): its ids are the account's, as for
    # an account's root user on AWS.
    return {
        "accessKey": caller.access_key_id,
        "accountId": caller.account_id,
        "callerId": caller.account_id,
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": f"arn:aws:iam::{caller.account_id}:root",
        "userId": caller.account_id,
    }


def _as_text(body: bytes, content_type: str | None) -> str | None:
    if not content_type:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    textual = media.startswith("text/") or media in _TEXT_TYPES or media.endswith(_TEXT_SUFFIXES)
    if not textual:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _clf_time(now: float) -> str:
    """ "12/Mar/2020:19:03:58 +0000" (month names fixed: no locale)."""
    moment = datetime.fromtimestamp(now, UTC)
    return (
        f"{moment.day:02d}/{_MONTHS[moment.month - 1]}/{moment.year}:"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} +0000"
    )
