"""The thumbnail and stream-aggregate examples, run as their READMEs say: built by their
scripts, deployed and wired with the `lambdalite` CLI, on real sandboxes that reach the
server's objects API and a Redis server only through the network allow-list.

The server and Redis listen on this machine's own (non-loopback) address, as the READMEs
ask: a sandbox never reaches the host's loopback. Watcher, delivery and pollers are
driven with `run_once()`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from PIL import Image

from lambdalite.sandbox.network import NetworkPolicy, prepare_host
from lambdalite.server import Platform, build_platform
from lambdalite.settings import Settings
from tests.compat.test_invoke import stored_lines
from tests.support.cli import cli_env, run, succeeded
from tests.support.redis import RedisServer, start_redis
from tests.support.servers import ROOT_KEY, ROOT_SECRET, boto_client, free_port, serve_in_thread

pytestmark = pytest.mark.sandbox
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def host_address() -> str:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent; picks the outbound address
        return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


HOST = host_address()


@dataclass
class HostServer:
    platform: Platform
    endpoint: str
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def account(self) -> str:
        return self.platform.root.account.account_id

    def on_loop(self, work: Any) -> Any:
        loop = self.platform.engine._loop
        assert loop is not None
        return asyncio.run_coroutine_threadsafe(work, loop).result(timeout=300)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.platform.close()


@pytest.fixture(scope="module")
def redis_on_host() -> Iterator[RedisServer]:
    if HOST == "127.0.0.1":
        pytest.skip("this machine has no non-loopback address for sandboxes to reach")
    running = start_redis(bind=(HOST, "127.0.0.1"))
    if running is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def example_server(
    tmp_path_factory: pytest.TempPathFactory, redis_on_host: RedisServer
) -> Iterator[HostServer]:
    port = free_port()
    settings = Settings(
        host=HOST,
        port=port,
        data_dir=tmp_path_factory.mktemp("examples"),
        root_access_key_id=ROOT_KEY,
        root_secret_access_key=ROOT_SECRET,
        # The README's allow-list: the server's API and the Redis server.
        sandbox_network_allow=(f"{HOST}:{port}", f"{HOST}:{redis_on_host.port}"),
        async_poll_interval_seconds=0,
        bucket_poll_interval_seconds=0,
        event_source_reconcile_seconds=0,
    )
    platform = build_platform(settings)
    if platform.engine.network_warning:
        platform.close()
        pytest.skip(f"sandboxes have no network here: {platform.engine.network_warning}")
    server, thread = serve_in_thread(platform, HOST, port)
    running = HostServer(platform, f"http://{HOST}:{port}", server, thread)
    yield running
    running.stop()


def claim_firewall(server: HostServer) -> None:
    """Put this server's allow-list back in the host's one firewall table: another
    lambdalite started since (a concurrent test session on this machine) replaced it —
    "the last one started wins" (docs/decisions/0102)."""
    s = server.platform.settings
    policy = NetworkPolicy(
        allow=s.sandbox_network_allow, subnet=s.sandbox_subnet, dns=s.sandbox_dns or None
    )
    assert prepare_host(policy).online


def build(example: str, out: Path) -> Path:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / example / "build.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return Path(result.stdout.split(" (")[0])


def printed(server: HostServer, function: str) -> list[str]:
    streams = stored_lines(server, server.account, function)
    return [line for lines in streams.values() for line in lines]


def test_thumbnail_makes_a_small_copy_in_another_bucket(
    example_server: HostServer, tmp_path: Path
) -> None:
    server = example_server
    env = cli_env(server.endpoint, tmp_path)
    package = build("thumbnail", tmp_path / "build")
    succeeded(run(env, "buckets", "create", "photos"))
    succeeded(run(env, "buckets", "create", "thumbnails"))
    variables = {
        "LAMBDALITE_ENDPOINT": server.endpoint,
        "LAMBDALITE_KEY_ID": ROOT_KEY,
        "LAMBDALITE_SECRET_KEY": ROOT_SECRET,
        "THUMBNAIL_BUCKET": "thumbnails",
    }
    settings = ["--name", "thumbnail", "--memory", "512", "--timeout", "30"]
    for pair in variables.items():
        settings += ["--env", "=".join(pair)]
    succeeded(run(env, "deploy", package, *settings))
    succeeded(
        run(env, "buckets", "notify", "photos", "--function", "thumbnail", "--suffix", ".jpg")
    )
    watcher = server.platform.buckets.watcher  # type: ignore[union-attr]
    server.on_loop(watcher.run_once())  # the watcher takes the new buckets on
    photo = tmp_path / "beach.jpg"
    Image.new("RGB", (1600, 1200), (30, 144, 255)).save(photo, "JPEG")
    (tmp_path / "notes.txt").write_text("not an image: the .jpg filter skips it")

    succeeded(run(env, "cp", photo, "photos/holiday/beach day.jpg"))
    succeeded(run(env, "cp", tmp_path / "notes.txt", "photos/notes.txt"))
    notified = server.on_loop(watcher.run_once())
    for _ in range(5):  # a file in a new directory is checked once more before it counts
        if watcher.pending:
            notified += server.on_loop(watcher.run_once())
    assert notified == 2
    events = server.platform.async_invocations
    assert events is not None
    claim_firewall(server)
    assert server.on_loop(events.delivery.run_once()) == 1
    assert events.events.count() == 0, printed(server, "thumbnail")  # it succeeded

    thumbs = server.platform.settings.bucket_dir / server.account / "thumbnails"
    made = Image.open(thumbs / "holiday" / "beach day.jpg")
    assert (made.format, made.size) == ("JPEG", (128, 96))
    assert any(
        "thumbnail photos/holiday/beach day.jpg -> thumbnails/holiday/beach day.jpg 128x96" in line
        for line in printed(server, "thumbnail")
    )


def test_stream_aggregate_counts_events_into_redis(
    example_server: HostServer, redis_on_host: RedisServer, tmp_path: Path
) -> None:
    server = example_server
    env = cli_env(server.endpoint, tmp_path)
    package = build("stream-aggregate", tmp_path / "build")
    redis_url = f"redis://{HOST}:{redis_on_host.port}/0"
    succeeded(run(env, "deploy", package, "--name", "aggregate", "--env", f"REDIS_URL={redis_url}"))
    succeeded(run(env, "streams", "add", "events", "--redis", redis_url))
    mapping = ["--function", "aggregate", "--starting-position", "TRIM_HORIZON"]
    out = succeeded(run(env, "streams", "map", "events", *mapping, "--batch-size", "100"))
    assert "Creating" in out
    client = redis_on_host.client()
    kinds = ["click", "view", "click", "buy", "click"]
    for i in range(250):
        client.xadd("events", {"data": json.dumps({"type": kinds[i % 5], "n": i})})
    pollers = server.platform.pollers
    assert pollers is not None
    claim_firewall(server)
    for _ in range(6):
        server.on_loop(pollers.run_once())
    counts = {k.decode(): int(v) for k, v in client.hgetall("counts").items()}
    assert counts == {"click": 150, "view": 50, "buy": 50}
    assert [g["pending"] for g in client.xinfo_groups("events")] == [0]

    # At least once, counted once: a batch delivered again adds nothing.
    entries = client.xrange("events", count=3)
    replay = {
        "Records": [
            {
                "kinesis": {
                    "sequenceNumber": entry_id.decode(),
                    "data": base64.b64encode(fields[b"data"]).decode(),
                }
            }
            for entry_id, fields in entries
        ]
    }
    lam = boto_client(server.endpoint)
    claim_firewall(server)
    answer = lam.invoke(FunctionName="aggregate", Payload=json.dumps(replay))
    result = json.loads(answer["Payload"].read())
    assert result == {"counted": 0, "skipped": 3}
    assert {k.decode(): int(v) for k, v in client.hgetall("counts").items()} == counts
