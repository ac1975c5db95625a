"""FunctionUrlRouter: ASGI middleware that sends requests for function URLs to the URL
app and everything else on.

A function URL is reached on lambdalite's own host and port in two ways (decision 0501):

    http://<host>:<port>/_lambdalite/url/<url-id>/<path>     by path prefix: no DNS needed
    http://<url-id>.lambda-url.<region>.localhost:<port>/<path>   by Host header

In the first form the function sees `/<path>` as its rawPath. The Host form matches any
host named `<url-id>.lambda-url.<anything>.`, so a reverse proxy or /etc/hosts entry
for AWS's own form (`<url-id>.lambda-url.<region>.on.aws`) works too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from lambdalite.urls.model import PATH_PREFIX

_PREFIX = PATH_PREFIX.encode()
_URL_ID = re.compile(rb"[a-z0-9]{1,40}")
_HOST = re.compile(rb"([a-z0-9]{1,40})\.lambda-url\.[^:]+")


@dataclass(frozen=True)
class UrlMatch:
    url_id: str
    raw_path: str  # what the function sees as rawPath
    host: str | None  # the host name, when routed by Host header


class UrlServer(Protocol):
    async def serve(self, scope: Scope, receive: Receive, send: Send, match: UrlMatch) -> None: ...


class FunctionUrlRouter:
    def __init__(self, app: ASGIApp, urls: UrlServer) -> None:
        self._app = app
        self._urls = urls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            match = match_url(scope)
            if match is not None:
                await self._urls.serve(scope, receive, send, match)
                return
        await self._app(scope, receive, send)


def match_url(scope: Scope) -> UrlMatch | None:
    raw_path: bytes = (scope.get("raw_path") or scope["path"].encode()).partition(b"?")[0]
    if raw_path.startswith(_PREFIX):
        url_id, _, rest = raw_path[len(_PREFIX) :].partition(b"/")
        if _URL_ID.fullmatch(url_id):
            return UrlMatch(url_id.decode(), "/" + rest.decode("latin-1"), None)
        return None
    for name, value in scope["headers"]:
        if name == b"host":
            found = _HOST.fullmatch(value.lower().rsplit(b":", 1)[0])
            if found is not None:
                host = found[0].decode("latin-1")
                return UrlMatch(found[1].decode(), raw_path.decode("latin-1") or "/", host)
            return None
    return None
