"""Who may read GET /metrics: loopback clients, or anyone with the bearer token."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from lambdalite.api.metrics_api import MetricsApi, _loopback
from lambdalite.metrics.platform_metrics import PlatformMetrics


def client(token: str | None, peer: str) -> httpx.AsyncClient:
    api = MetricsApi(PlatformMetrics(), token)
    app = Starlette(routes=[Route("/metrics", api.metrics)])
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://lambdalite")


async def test_without_a_token_only_loopback_is_answered() -> None:
    async with client(None, "10.1.2.3") as remote:
        refused = await remote.get("/metrics")
    assert refused.status_code == 403
    assert "LAMBDALITE_METRICS_TOKEN" in refused.text
    async with client(None, "127.0.0.1") as local:
        assert (await local.get("/metrics")).status_code == 200


async def test_with_a_token_its_bearer_is_answered_from_anywhere() -> None:
    async with client("t0ken", "10.1.2.3") as remote:
        assert (await remote.get("/metrics")).status_code == 401
        wrong = await remote.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        allowed = await remote.get("/metrics", headers={"Authorization": "Bearer t0ken"})
    assert allowed.status_code == 200
    assert "lambdalite_dropped_total" in allowed.text


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("testclient", False),
        (None, False),
    ],
)
def test_loopback_addresses(host: str | None, loopback: bool) -> None:
    assert _loopback(host) is loopback
