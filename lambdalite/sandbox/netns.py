"""Network namespaces for sandboxes: only `lo`, no route anywhere, made ahead of need.

A namespace with only loopback has no route to the host: neither its loopback services
(lambdalite's API, its database) nor anything else. This is the "no network" mode of
issue 3; outbound through veth + nftables is the next step (docs/decisions/0102).

One dedicated thread creates them: `unshare(CLONE_NEWNET)` moves only the calling
thread, so that thread simply lives in whichever namespace it made last and the event
loop's thread never leaves the host's. For `provided.*` runtimes the same thread enters
the sandbox's namespace and opens the Runtime API's listening socket on 127.0.0.1:9001
*there*: the socket stays in that namespace, the platform accepts on it from its event
loop, and no address on the host is involved (docs/decisions/0101).

Creating one costs ~0.3 ms plus an asynchronous, noisy teardown (platform-facts); a few
spares are kept so a cold start only takes one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from lambdalite.runtime import _syscalls as sc

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
RUNTIME_API_PORT = 9001


@dataclass
class Netns:
    fd: int
    listener: socket.socket | None = None

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

    def __init__(self, spares: int = 2) -> None:
        self._spares = spares
        self._ready: list[int] = []
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="lambdalite-netns")
        self._refilling = False
        self._closed = False

    async def take(self, *, listen: bool) -> Netns:
        loop = asyncio.get_running_loop()
        fd = self._ready.pop() if self._ready else await loop.run_in_executor(self._thread, _make)
        try:
            listener = await loop.run_in_executor(self._thread, _listen, fd) if listen else None
        except OSError:
            os.close(fd)
            raise
        self._refill(loop)
        return Netns(fd, listener)

    def _refill(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._refilling or self._closed or len(self._ready) >= self._spares:
            return
        self._refilling = True

        def done(future: asyncio.Future[int]) -> None:
            self._refilling = False
            if future.exception() is not None:
                return
            if self._closed:
                os.close(future.result())
                return
            self._ready.append(future.result())
            self._refill(loop)

        loop.run_in_executor(self._thread, _make).add_done_callback(done)

    def close(self) -> None:
        self._closed = True
        for fd in self._ready:
            os.close(fd)
        self._ready.clear()
        self._thread.shutdown(wait=True)
