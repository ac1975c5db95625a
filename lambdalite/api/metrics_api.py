"""GET /metrics: the server's Prometheus metrics, in the text exposition format.

Not SigV4 (Prometheus cannot sign): with `LAMBDALITE_METRICS_TOKEN` set it wants
`Authorization: Bearer <token>` (Prometheus' `authorization` scrape setting), without it
only clients on the loopback interface are answered. The metrics name every account's
functions, so they are the operator's, not a tenant's (decision 0604).
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from lambdalite.metrics.platform_metrics import PlatformMetrics

# What generate_latest writes (every name here is a classic Prometheus name, so the
# 1.0.0 format's escaping never applies); prometheus-client's CONTENT_TYPE_LATEST moved
# to 1.0.0 in 0.22 and is what its own server sends only when a scraper asks for it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsApi:
    def __init__(self, metrics: PlatformMetrics, token: str | None) -> None:
        self._metrics = metrics
        self._token = token

    async def metrics(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        self._metrics.sample()  # event-loop state, read on the loop
        body = await run_in_threadpool(self._metrics.render)
        return Response(body, media_type=CONTENT_TYPE)

    def _refusal(self, request: Request) -> Response | None:
        if self._token:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                given.strip().encode(), self._token.encode()
            ):
                return None
            return PlainTextResponse(
                "GET /metrics needs Authorization: Bearer <LAMBDALITE_METRICS_TOKEN>\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="lambdalite metrics"'},
            )
        if _loopback(request.client.host if request.client else None):
            return None
        return PlainTextResponse(
            "GET /metrics answers only on loopback; set LAMBDALITE_METRICS_TOKEN on the "
            "server to let scrapers elsewhere in with a bearer token\n",
            status_code=403,
        )


def _loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return (mapped or address).is_loopback
