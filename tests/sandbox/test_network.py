"""Sandbox networking (docs/decisions/0102): outbound allowed, the host and private ranges
not, an operator allow-list, "none" = only lo, namespaces used once and torn down.

"The internet" is a test host this module builds: a network namespace `lltest-<hex>`
joined to the host by a veth on a /30 of TEST-NET-3 (203.0.113.0/24), with servers
listening inside it. No packet leaves this machine: every test first checks that the
host routes the test host's address through that veth. TEST-NET-3 is a special-purpose
range, so the default policy blocks it — which the tests use to check the blocked
ranges — and the "outbound allowed" tests take it out of `blocked`, so it stands in for
a public address.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import random
import shutil
import socket
import subprocess
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from lambdalite.runtime import _syscalls as sc
from lambdalite.sandbox import network
from lambdalite.sandbox.cgroups import CgroupTree
from lambdalite.sandbox.network import BLOCKED_V4, NetworkPolicy
from lambdalite.sandbox.pool import SandboxPool
from lambdalite.sandbox.spec import SandboxSpec
from lambdalite.sandbox.zygote_backend import ForkedSandbox, ZygoteBackend
from tests.sandbox.conftest import Functions, invoke, request, result
from tests.sandbox.test_isolation import _host_address

pytestmark = pytest.mark.sandbox

INTERNET = ipaddress.IPv4Network("203.0.113.0/24")
OPEN = tuple(b for b in BLOCKED_V4 if b != str(INTERNET))  # TEST-NET-3 as "public"

PROBE = """
import os, socket, threading

def attempt(proto, host, port, timeout):
    try:
        if proto == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(timeout)
                s.sendto(b"ping", (host, port))
                return "reply:" + s.recv(64).decode()
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            return "connected:" + s.recv(64).decode()
    except OSError as e:
        return type(e).__name__

def handler(event, context):
    out = {}
    def run(target):
        out[":".join(map(str, target))] = attempt(*target, event.get("timeout", 0.5))
    threads = [threading.Thread(target=run, args=(t,)) for t in event.get("targets", [])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    resolv = "/etc/resolv.conf"
    return {
        "results": out,
        "interfaces": [name for _, name in socket.if_nameindex()],
        "routes": len(open("/proc/net/route").read().splitlines()) - 1,
        "resolv": open(resolv).read() if os.path.exists(resolv) else None,
    }
"""


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def _serve_tcp(sock: socket.socket, peers: list[str], stop: threading.Event) -> None:
    sock.settimeout(0.1)
    while not stop.is_set():
        try:
            conn, peer = sock.accept()
        except OSError:
            continue
        peers.append(peer[0])
        conn.sendall(b"hi")
        conn.close()


def _serve_udp(sock: socket.socket, peers: list[str], stop: threading.Event) -> None:
    sock.settimeout(0.1)
    while not stop.is_set():
        try:
            _, peer = sock.recvfrom(64)
        except OSError:
            continue
        peers.append(peer[0])
        sock.sendto(b"pong", peer)


class Net:
    """The test host ("the internet"), and servers there or on the host."""

    def __init__(self) -> None:
        tag = os.urandom(3).hex()
        self.netns, self.link = f"lltest-{tag}", f"lltst{tag}"
        link = list(INTERNET.subnets(new_prefix=30))[random.randrange(64)]
        self.host_ip, self.remote_ip = str(link[1]), str(link[2])
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []

    def up(self) -> None:
        _run("ip", "netns", "add", self.netns)
        _run("ip", "link", "add", self.link, "type", "veth", "peer", "eth0", "netns", self.netns)
        _run("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.link)
        _run("ip", "link", "set", self.link, "up")
        _run("ip", "-n", self.netns, "addr", "add", f"{self.remote_ip}/30", "dev", "eth0")
        _run("ip", "-n", self.netns, "link", "set", "eth0", "up")
        # The guard of the module docstring: the test host's address must be on our veth.
        route = subprocess.run(
            ["ip", "-o", "route", "get", self.remote_ip], capture_output=True, text=True
        )
        assert f"dev {self.link} " in route.stdout, route.stdout

    def down(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for sock in self._sockets:
            sock.close()
        subprocess.run(["ip", "link", "del", self.link], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)

    def serve(
        self, where: str, proto: str = "tcp", address: str = "0.0.0.0"
    ) -> tuple[int, list[str]]:
        """A server on the test host (`where="remote"`) or on the host; its port, and the
        source addresses it has seen."""
        kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
        box: list[socket.socket] = []

        def bind() -> None:
            if where == "remote":  # this thread only, and it ends here
                with open(f"/run/netns/{self.netns}") as ns:
                    sc.setns(ns.fileno(), sc.CLONE_NEWNET)
            sock = socket.socket(socket.AF_INET, kind)
            sock.bind((address, 53 if proto == "udp" and where == "remote" else 0))
            if proto == "tcp":
                sock.listen(16)
            box.append(sock)

        binder = threading.Thread(target=bind)
        binder.start()
        binder.join()
        peers: list[str] = []
        serve = _serve_udp if proto == "udp" else _serve_tcp
        thread = threading.Thread(target=serve, args=(box[0], peers, self._stop), daemon=True)
        thread.start()
        self._threads.append(thread)
        self._sockets.append(box[0])
        return box[0].getsockname()[1], peers


@pytest.fixture
def tools() -> None:
    if shutil.which("ip") is None or shutil.which("nft", path="/usr/sbin:/sbin:/usr/bin") is None:
        pytest.skip("needs iproute2 and nftables")


@pytest.fixture
def net(tools: None) -> Iterator[Net]:
    test_net = Net()
    try:
        test_net.up()
        yield test_net
    finally:
        test_net.down()


PoolFactory = Callable[..., Awaitable[tuple[SandboxPool, ZygoteBackend]]]


@pytest.fixture
async def pools(cgroup_tree: CgroupTree) -> AsyncIterator[PoolFactory]:
    """Pools whose backend has a given `NetworkPolicy`; closed and torn down after."""
    made: list[tuple[SandboxPool, ZygoteBackend]] = []

    async def make(**policy: Any) -> tuple[SandboxPool, ZygoteBackend]:
        backend = ZygoteBackend(cgroup_tree, network=NetworkPolicy(**policy))
        made.append((SandboxPool(backend), backend))
        return made[-1]

    yield make
    for pool, backend in made:
        await pool.close()
        assert await backend.netns.wait_torn_down() == []
        assert backend.leftover_cgroups == []


async def probe(pool: SandboxPool, spec: SandboxSpec, *targets: tuple[str, str, int]) -> Any:
    return result(await invoke(pool, spec, {"targets": [list(t) for t in targets]}))


async def test_outbound_reaches_the_internet_masqueraded(
    net: Net, pools: PoolFactory, functions: Functions
) -> None:
    pool, backend = await pools(blocked=OPEN, dns=(net.remote_ip,))
    port, peers = net.serve("remote")
    _, dns_peers = net.serve("remote", "udp")
    spec = functions.make(PROBE, timeout_s=10)
    body = await probe(pool, spec, ("tcp", net.remote_ip, port), ("udp", net.remote_ip, 53))
    assert body["results"] == {
        f"tcp:{net.remote_ip}:{port}": "connected:hi",
        f"udp:{net.remote_ip}:53": "reply:pong",
    }
    assert body["interfaces"] == ["lo", "eth0"] and body["routes"] == 2
    assert body["resolv"] == f"nameserver {net.remote_ip}\n"
    # Masqueraded: the internet sees the host's address on that link, not the sandbox's.
    assert peers == dns_peers == [net.host_ip]
    assert backend.network_warning is None


async def test_host_private_ranges_and_allow_list(
    net: Net, pools: PoolFactory, functions: Functions
) -> None:
    host_port, host_peers = net.serve("host")  # 0.0.0.0: every host address, loopback too
    allowed, allowed_peers = net.serve("host")
    remote, remote_peers = net.serve("remote")
    remote_allowed, _ = net.serve("remote")
    _, dns_peers = net.serve("remote", "udp")
    # Also the host's own loopback, as lambdalite's API and its database listen there.
    loopback, loopback_peers = net.serve("host", address="127.0.0.1")
    pool, _ = await pools(
        allow=(f"{net.host_ip}:{allowed}", f"{net.remote_ip}:{remote_allowed}"),
        dns=(net.remote_ip,),
    )
    host_ip = _host_address()
    spec = functions.make(PROBE, timeout_s=10)
    targets = [
        ("tcp", "127.0.0.1", loopback),  # the sandbox's own lo: nothing there
        ("tcp", host_ip, host_port),  # the host's main address
        ("tcp", net.host_ip, host_port),  # another host address
        ("tcp", net.host_ip, allowed),  # allow-listed
        ("tcp", host_ip, allowed),  # same port, not the allowed ip
        ("tcp", net.remote_ip, remote),  # a blocked range (TEST-NET-3)
        ("tcp", net.remote_ip, remote_allowed),  # allow-listed in a blocked range
        ("udp", net.remote_ip, 53),  # DNS to the configured resolver: implicitly allowed
    ]
    body = await probe(pool, spec, *targets)
    out = body["results"]
    assert out[f"tcp:127.0.0.1:{loopback}"] == "ConnectionRefusedError"
    assert out[f"tcp:{net.host_ip}:{allowed}"] == "connected:hi"
    assert out[f"tcp:{net.remote_ip}:{remote_allowed}"] == "connected:hi"
    dropped = [f"{p}:{h}:{port}" for p, h, port in targets[1:3] + targets[4:6]]
    assert {k: out[k] for k in dropped} == dict.fromkeys(dropped, "TimeoutError"), out
    assert out[f"udp:{net.remote_ip}:53"] == "reply:pong"
    assert host_peers == remote_peers == loopback_peers == []
    assert len(allowed_peers) == len(dns_peers) == 1


async def test_sandboxes_cannot_reach_each_other(
    net: Net, pools: PoolFactory, functions: Functions
) -> None:
    pool, _ = await pools(blocked=OPEN)
    listener = functions.make(
        """
        import socket
        server = socket.socket()
        server.bind(("0.0.0.0", 8080))
        server.listen(8)
        def handler(event, context):
            return "listening"
        """
    )
    async with pool.acquire(listener) as held:
        assert result(await held.invoke(request(listener))) == "listening"
        assert isinstance(held.process, ForkedSandbox)
        address = held.process.netns.address
        assert address is not None
        # The platform itself can (its connection completes in the sandbox's backlog)...
        socket.create_connection((address, 8080), timeout=2).close()
        # ...another sandbox cannot.
        spec = functions.make(PROBE, timeout_s=10)
        body = await probe(pool, spec, ("tcp", address, 8080))
        assert body["results"] == {f"tcp:{address}:8080": "TimeoutError"}


async def test_network_none_has_only_lo(net: Net, pools: PoolFactory, functions: Functions) -> None:
    pool, _ = await pools(blocked=OPEN, dns=(net.remote_ip,))
    port, peers = net.serve("remote")
    spec = functions.make(PROBE, network="none")
    body = await probe(pool, spec, ("tcp", net.remote_ip, port))
    # No route at all: the kernel refuses without sending a packet.
    assert body == {
        "results": {f"tcp:{net.remote_ip}:{port}": "OSError"},
        "interfaces": ["lo"],
        "routes": 0,
        "resolv": None,
    }
    assert peers == []
    default = dataclasses.replace(spec, network="default")
    assert default.key != spec.key  # never the same sandboxes


def _chains() -> set[str]:
    listing = subprocess.run(
        ["nft", "-j", "list", "table", "inet", network.TABLE], capture_output=True, text=True
    )
    items = json.loads(listing.stdout)["nftables"]
    return {item["chain"]["name"] for item in items if "chain" in item}


async def test_namespaces_are_used_once_and_torn_down(
    tools: None, pools: PoolFactory, functions: Functions
) -> None:
    pool, backend = await pools()
    spec = functions.make(PROBE)
    seen = set()
    for _ in range(4):
        async with pool.acquire(spec) as sandbox:
            assert isinstance(sandbox.process, ForkedSandbox)
            netns = sandbox.process.netns
            seen.add((netns.address, netns.interface))
            assert netns.interface in network.sandbox_links()
            await sandbox.destroy()  # the next acquire is a cold start
    assert len(seen) == 4 and pool.cold_starts == 4
    await pool.close()
    assert await backend.netns.wait_torn_down() == []
    # The table stays for other lambdalite processes, whole and consistent.
    assert network.firewall_present()
    assert {"input", "forward", "postrouting", "sandbox_to_host", "sandbox_out"} <= _chains()


async def test_degrades_to_lo_only_with_a_warning(
    net: Net, pools: PoolFactory, functions: Functions, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A sandbox subnet that overlaps a host route (the test host's link) is refused.
    link = ipaddress.IPv4Network(f"{net.host_ip}/30", strict=False)
    pool, backend = await pools(subnet=str(link))
    body = await probe(pool, functions.make(PROBE))
    assert body["interfaces"] == ["lo"] and body["resolv"] is None
    assert backend.network_warning is not None
    assert "overlaps" in backend.network_warning and net.link in backend.network_warning
    # No nft: the same, and the warning says what to install.
    monkeypatch.setattr(network, "_nft", lambda: None)
    _, backend = await pools()
    assert (
        backend.netns.setup() == "sandboxes have NO network, only lo: nft not found (apt: nftables)"
    )
    # Switched off by the operator: only lo, and nothing to warn about.
    pool, backend = await pools(enabled=False)
    assert (await probe(pool, functions.make(PROBE)))["interfaces"] == ["lo"]
    assert backend.network_warning is None


@pytest.mark.parametrize(
    "entry", ["127.0.0.1:5432", "0.0.0.0:80", "db:5432", "10.0.0.1", "10.0.0.1:0", "[::1]:5432"]
)
def test_allow_list_entries_are_validated(entry: str) -> None:
    with pytest.raises(ValueError):
        NetworkPolicy(allow=(entry,))


def test_host_resolvers(tmp_path: Any) -> None:
    resolved = tmp_path / "resolved.conf"
    resolved.write_text("nameserver 10.0.0.2\nnameserver 10.0.0.3\n")
    loopback = tmp_path / "resolv.conf"
    loopback.write_text("# systemd-resolved\nnameserver 127.0.0.53\noptions edns0\n")
    assert network.host_resolvers((str(loopback), str(resolved))) == (
        ["10.0.0.2", "10.0.0.3"],
        None,
    )
    servers, warning = network.host_resolvers((str(loopback),))
    assert servers == [] and warning is not None and "127.0.0.53" in warning
