"""GET /metrics against a running server: Prometheus text that prometheus-client parses,
moving as invocations, errors, throttles and timeouts happen; gauges of sandboxes and
the async queue; dropped counters at 0; a bearer token when one is set."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.config
import httpx
import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import create, make_zip
from tests.support.servers import ROOT_KEY, ROOT_SECRET, RunningServer, start_server

runs = pytest.mark.sandbox

HELLO = "def handler(event, context):\n    return event\n"
FAILING = "def handler(event, context):\n    raise ValueError('no')\n"
SLEEPY = "import time\n\ndef handler(event, context):\n    time.sleep(5)\n"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def xserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("metrics"), async_poll_interval_seconds=0)
    yield running
    running.stop()


@pytest.fixture
def lam(xserver: RunningServer) -> Any:
    """No retries: one throttled call is one throttle."""
    config = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"})
    return boto3.client(
        "lambda",
        endpoint_url=xserver.endpoint,
        region_name="us-east-1",
        aws_access_key_id=ROOT_KEY,
        aws_secret_access_key=ROOT_SECRET,
        config=config,
    )


def on_loop(server: RunningServer, work: Any) -> Any:
    loop = server.platform.engine._loop
    assert loop is not None
    return asyncio.run_coroutine_threadsafe(work, loop).result(timeout=120)


def scrape(server: RunningServer) -> Samples:
    """Every sample, after the log writer's flush (which counts the usage records)."""
    on_loop(server, server.platform.engine.logs.run_once())
    response = httpx.get(f"{server.endpoint}/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def deploy(lam: Any, name: str, source: str, **extra: Any) -> None:
    create(lam, name, Code={"ZipFile": make_zip({"app.py": source})}, **extra)


@runs
def test_metrics_move_with_invocations_errors_throttles_and_timeouts(
    xserver: RunningServer, lam: Any
) -> None:
    account = xserver.platform.root.account.account_id
    ok, bad, slow, shut = (
        f"{kind}-{uuid.uuid4().hex[:8]}" for kind in ("ok", "bad", "slow", "shut")
    )
    deploy(lam, ok, HELLO)
    deploy(lam, bad, FAILING)
    deploy(lam, slow, SLEEPY, Timeout=1)
    deploy(lam, shut, HELLO)
    lam.put_function_concurrency(FunctionName=shut, ReservedConcurrentExecutions=0)
    before = scrape(xserver)
    for _ in range(3):
        lam.invoke(FunctionName=ok, Payload=b"{}")
    lam.invoke(FunctionName=bad, Payload=b"{}")
    lam.invoke(FunctionName=slow, Payload=b"{}")
    with pytest.raises(ClientError):
        lam.invoke(FunctionName=shut, Payload=b"{}")
    after = scrape(xserver)

    def of(fn: str, metric: str) -> float:
        return value(after, metric, account=account, function=fn)

    assert (
        value(after, "lambdalite_invocations_total", account=account, function=ok, trigger="api")
        == 3
    )
    assert (of(ok, "lambdalite_cold_starts_total"), of(ok, "lambdalite_warm_starts_total")) == (
        1,
        2,
    )
    assert of(ok, "lambdalite_duration_seconds_count") == 3
    assert of(ok, "lambdalite_init_duration_seconds_count") == 1
    assert of(ok, "lambdalite_errors_total") == 0
    assert of(ok, "lambdalite_billed_gb_seconds_total") > 0
    assert of(bad, "lambdalite_errors_total") == 1
    assert (of(slow, "lambdalite_errors_total"), of(slow, "lambdalite_timeouts_total")) == (1, 1)
    assert of(shut, "lambdalite_throttles_total") == 1
    assert (
        value(after, "lambdalite_invocations_total", account=account, function=shut, trigger="api")
        == 0
    )
    # Three cold starts (ok, bad, slow), each broken down into its phases.
    for phase in ("queued", "create", "runtime", "init", "handler"):
        name = "lambdalite_cold_start_phase_seconds_count"
        assert value(after, name, phase=phase) - value(before, name, phase=phase) == 3
    # ok's and bad's sandboxes wait warm; slow's was destroyed by its timeout.
    assert value(after, "lambdalite_sandboxes", state="idle") >= 2
    assert value(after, "lambdalite_concurrent_executions") == 0
    assert value(after, "lambdalite_dropped_total", what="log_events") == 0
    assert value(after, "lambdalite_dropped_total", what="usage_records") == 0


@runs
def test_async_queue_depth_and_age(xserver: RunningServer, lam: Any) -> None:
    name = f"event-{uuid.uuid4().hex[:8]}"
    deploy(lam, name, HELLO)
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    waiting = scrape(xserver)
    assert value(waiting, "lambdalite_async_events", state="due") == 1
    assert value(waiting, "lambdalite_async_oldest_event_age_seconds") >= 0
    events = xserver.platform.async_invocations
    assert events is not None
    assert on_loop(xserver, events.delivery.run_once()) == 1
    done = scrape(xserver)
    assert value(done, "lambdalite_async_events", state="due") == 0
    assert value(done, "lambdalite_async_oldest_event_age_seconds") == 0
    account = xserver.platform.root.account.account_id
    assert (
        value(done, "lambdalite_invocations_total", account=account, function=name, trigger="event")
        == 1
    )


@runs
def test_each_server_has_its_own_registry(
    xserver: RunningServer, server: RunningServer, lam: Any
) -> None:
    name = f"only-here-{uuid.uuid4().hex[:8]}"
    deploy(lam, name, HELLO)
    lam.invoke(FunctionName=name, Payload=b"{}")
    here, there = scrape(xserver), scrape(server)
    assert any(dict(labels).get("function") == name for _, labels in here)
    assert not any(dict(labels).get("function") == name for _, labels in there)


def test_a_metrics_token_is_required_once_set(tmp_path: Any) -> None:
    running = start_server(tmp_path / "token", metrics_token="s3cret")
    try:
        url = f"{running.endpoint}/metrics"
        refused = httpx.get(url)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
        allowed = httpx.get(url, headers={"Authorization": "Bearer s3cret"})
        assert allowed.status_code == 200
        assert "lambdalite_dropped_total" in allowed.text
    finally:
        running.stop()
