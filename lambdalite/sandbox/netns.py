"""Network namespaces for sandboxes, made ahead of need, each used once.

Two kinds (docs/decisions/0102):
- *wired* (a function's default): `lo` plus `eth0`, one end of a veth pair whose host end
  is `llsb<slot>`, holding `<slot's /30>.2` with a default route via `.1` on the host
  end. What it may reach is decided by the host's one nftables table (network.py).
- *offline* (`network="none"`, or when the host cannot wire sandboxes): only `lo`, no
  route anywhere.

One dedicated thread creates them: `unshare(CLONE_NEWNET)` moves only the calling
thread, so the event loop's thread never leaves the host's. That thread goes back to the
host's namespace after each piece of work (a `setns`, ~10 µs): a thread that stayed in
the namespace it made last would keep that namespace, and its veth, alive after the
sandbox that used it is gone. It wires a namespace over rtnetlink (netlink.py):
one socket opened in the host's namespace at setup, one inside each new namespace; ~0.7
ms in all, against ~4.8 ms with five `ip` execs. For `provided.*` runtimes the same
thread enters the sandbox's namespace and opens the Runtime API's listening socket on
127.0.0.1:9001 *there* (docs/decisions/0101).

A few spares of each kind in use are kept, refilled after each take, so a cold start only
pops one (~0 ms). Teardown is closing the namespace's fd: the kernel destroys the
namespace and the veth pair with it in its own batched cleanup work, off every thread of
ours (an explicit RTM_DELLINK blocks ~20 ms in RCU grace periods). A slot whose link is
still being torn down (or belongs to another lambdalite process) answers EEXIST and the
next slot is tried, so slots need no bookkeeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import ipaddress
import os
import random
import socket
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from lambdalite.runtime import _syscalls as sc
from lambdalite.sandbox.netlink import Rtnl
from lambdalite.sandbox.network import INTERFACE_PREFIX, HostNetwork, NetworkPolicy, prepare_host

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
RUNTIME_API_PORT = 9001
SANDBOX_INTERFACE = "eth0"  # the name AWS's sandboxes show, too
_SLOT_TRIES = 64
CLOSE_WAIT_S = 5.0


@dataclass
class Netns:
    fd: int
    listener: socket.socket | None = None
    address: str | None = None  # the sandbox's IPv4 address when wired
    interface: str | None = None  # the host end of its veth when wired

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, _SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def _make() -> int:
    sc.unshare(sc.CLONE_NEWNET)
    fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _loopback_up()
    except OSError:
        os.close(fd)
        raise
    return fd


def _listen(fd: int) -> socket.socket:
    sc.setns(fd, sc.CLONE_NEWNET)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", RUNTIME_API_PORT))
    sock.listen(8)
    sock.setblocking(False)
    return sock


class NetnsPool:
    """Hands out fresh network namespaces; each is used by one sandbox, then closed."""

    def __init__(self, network: NetworkPolicy | None = None, spares: int = 2) -> None:
        self.policy = network or NetworkPolicy()
        self._spares = spares
        self._ready: dict[bool, list[Netns]] = {False: [], True: []}
        self._refilling: set[bool] = set()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="lambdalite-netns")
        self._closed = False
        self._host: HostNetwork | None = None
        self._host_rtnl: Rtnl | None = None
        self._setup_lock = asyncio.Lock()
        self._slots = self.policy.network.num_addresses // 4
        self._next_slot = random.randrange(self._slots)
        self._names: set[str] = set()  # host ends we created, until seen gone
        self._host_netns = -1  # where the pool's thread returns after each piece of work

    # -- the host ------------------------------------------------------------------------

    def setup(self) -> str | None:
        """Prepare the host for wired namespaces (firewall, forwarding, a first spare as a
        probe) and return a warning if sandboxes will have no network. Idempotent; call
        it from a thread in the host's network namespace (any but the pool's)."""
        if self._host is not None:
            return self._host.warning
        # Opened by the caller, in the host's namespace.
        self._host_netns = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            host = prepare_host(self.policy)
        except Exception as e:  # a hung or vanished nft...: degrade, never crash the server
            host = HostNetwork(False).offline(f"cannot prepare the host ({e})")
        if host.online:
            try:
                self._host_rtnl = Rtnl()  # created here: it talks to the host's namespace
                self._ready[True].append(self._thread.submit(self._make, True).result())
            except OSError as e:
                host = host.offline(f"cannot wire a namespace ({e.strerror or e})")
        self._host = host
        return host.warning

    async def _ensure_setup(self) -> HostNetwork:
        if self._host is None:
            async with self._setup_lock:
                if self._host is None:
                    await asyncio.to_thread(self.setup)
        assert self._host is not None
        return self._host

    @property
    def online(self) -> bool:
        """Whether wired namespaces are available (after `setup`)."""
        return self._host is not None and self._host.online

    @property
    def warning(self) -> str | None:
        return self._host.warning if self._host is not None else None

    async def resolv_conf(self) -> str:
        """/etc/resolv.conf for the root of sandboxes with network ("" without)."""
        return (await self._ensure_setup()).resolv_conf

    # -- making namespaces (on the pool's thread) --------------------------------------

    def _home(self) -> None:
        sc.setns(self._host_netns, sc.CLONE_NEWNET)

    def _make_wired(self) -> Netns:
        assert self._host_rtnl is not None
        host = self._host_rtnl
        fd = _make()
        try:
            for _ in range(_SLOT_TRIES):
                slot, self._next_slot = self._next_slot, (self._next_slot + 1) % self._slots
                name = f"{INTERFACE_PREFIX}{slot}"
                try:
                    host.add_veth(name, SANDBOX_INTERFACE, fd)
                    break
                except OSError as e:
                    if e.errno != errno.EEXIST:
                        raise
            else:
                raise OSError(errno.EADDRINUSE, "no free sandbox network slot")
            if len(self._names) > 4 * self._spares + 256:
                self._names = set(self.links())  # forget the ones the kernel removed
            self._names.add(name)
            base = self.policy.network.network_address + 4 * slot
            gateway = ipaddress.IPv4Interface(f"{base + 1}/30")
            address = ipaddress.IPv4Interface(f"{base + 2}/30")
            index = host.index(name)
            host.add_address(index, gateway)
            host.set_up(index, ipv6=False)
            with Rtnl() as inside:  # this thread is in the new namespace now
                index = inside.index(SANDBOX_INTERFACE)
                inside.add_address(index, address)
                inside.set_up(index, ipv6=False)
                inside.add_default_route(gateway.ip)
        except BaseException:
            os.close(fd)  # the kernel removes a half-made veth with its namespace
            raise
        return Netns(fd, None, str(address.ip), name)

    def _make(self, wired: bool) -> Netns:
        try:
            return self._make_wired() if wired else Netns(_make())
        finally:
            self._home()

    def _listen(self, fd: int) -> socket.socket:
        try:
            return _listen(fd)
        finally:
            self._home()

    async def take(self, *, listen: bool, network: bool = True) -> Netns:
        """A fresh namespace: wired if `network` and the host allows it, else only lo."""
        wired = (await self._ensure_setup()).online and network
        loop = asyncio.get_running_loop()
        ready = self._ready[wired]
        netns = (
            ready.pop() if ready else await loop.run_in_executor(self._thread, self._make, wired)
        )
        try:
            if listen:
                netns.listener = await loop.run_in_executor(self._thread, self._listen, netns.fd)
        except OSError:
            netns.close()
            raise
        self._refill(loop, wired)
        return netns

    def _refill(self, loop: asyncio.AbstractEventLoop, wired: bool) -> None:
        if wired in self._refilling or self._closed or len(self._ready[wired]) >= self._spares:
            return
        self._refilling.add(wired)

        def done(future: asyncio.Future[Netns]) -> None:
            self._refilling.discard(wired)
            if future.exception() is not None:
                return
            if self._closed:
                future.result().close()
                return
            self._ready[wired].append(future.result())
            self._refill(loop, wired)

        loop.run_in_executor(self._thread, self._make, wired).add_done_callback(done)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._thread.shutdown(wait=True)
        for netns in (*self._ready[False], *self._ready[True]):
            netns.close()
        self._ready = {False: [], True: []}
        if self._host_rtnl is not None:
            self._host_rtnl.close()
        if self._host_netns >= 0:
            os.close(self._host_netns)

    def links(self) -> list[str]:
        """The host ends of veths this pool made that still exist (sysfs shows the host's
        namespace, whatever the calling thread's)."""
        names = list(self._names)  # one C-level copy: the pool's thread adds to the set
        return sorted(n for n in names if os.path.exists(f"/sys/class/net/{n}"))

    async def wait_torn_down(self, within_s: float = CLOSE_WAIT_S) -> list[str]:
        """After `close` and once every sandbox is destroyed: wait for the kernel to
        remove the veths this pool made; return those still there after `within_s`."""
        for _ in range(int(within_s / 0.01)):
            if not self.links():
                break
            await asyncio.sleep(0.01)
        return self.links()
