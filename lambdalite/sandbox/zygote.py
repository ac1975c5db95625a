"""The platform's handle on one version zygote (lambdalite.runtime.zygote is its inside).

A version zygote is forked by a runtime zygote (`runtime_zygote.py`), not started by the
platform, so it is not the platform's child: the handle knows it by the pidfd the zygote
sends with `ready`. Messages go over the SOCK_SEQPACKET control socket the platform made
for it, one JSON object per message, fds attached with SCM_RIGHTS: `ready` (with its
pidfd), `error`, `spare` (pid, pidfd and the spare's socket), `exit` from the zygote;
`want` and `used` to it. A cold start sends the sandbox's resources straight to the
spare, not through the zygote. The handle reads messages from the event loop
(`add_reader`), so there is no thread and no timer per zygote or per sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import socket
from dataclasses import dataclass
from typing import Any

from lambdalite.runtime.zygote import VersionConfig
from lambdalite.sandbox.backend import BackendError

_KILLED = signal.SIGKILL  # the wait status of a process killed by SIGKILL
START_TIMEOUT_S = 10.0
EXIT_WAIT_S = 5.0


def receive(control: socket.socket) -> tuple[list[tuple[dict[str, Any], list[int]]], bool]:
    """The messages waiting on a zygote's control socket, and whether it is closed."""
    out: list[tuple[dict[str, Any], list[int]]] = []
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, 1 << 16, 4)
        except (BlockingIOError, InterruptedError):
            return out, False
        except OSError:
            return out, True
        if not data:
            for fd in fds:
                os.close(fd)
            return out, True
        out.append((json.loads(data), fds))


def exited(pidfd: int) -> bool:
    """Whether the process behind `pidfd` has exited (a pidfd polls readable then)."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


def kill_and_wait(pidfd: int, timeout_s: float = EXIT_WAIT_S) -> None:
    """SIGKILL the process behind `pidfd` and wait until it has exited; it need not be
    our child (nobody reaps through a pidfd: its parent does)."""
    with contextlib.suppress(OSError):
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.poll(int(timeout_s * 1000))


@dataclass
class _Spare:
    """A sandbox the zygote forked ahead of demand; its runtime waits on `go`."""

    pid: int
    pidfd: int
    go: socket.socket
    exited: asyncio.Future[int]

    def discard(self) -> None:
        # EOF on `go` makes the spare's runtime exit, and its init with it.
        self.go.close()
        with contextlib.suppress(OSError):
            os.close(self.pidfd)


class Zygote:
    def __init__(self, config: VersionConfig, control: socket.socket) -> None:
        self.config = config
        self.control = control
        self.alive = True
        self.pid = 0  # known once ready
        self._pidfd = -1
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._spare: _Spare | None = None
        self._waiting: list[asyncio.Future[_Spare]] = []
        self._exits: dict[int, asyncio.Future[int]] = {}
        control.setblocking(False)
        asyncio.get_running_loop().add_reader(control.fileno(), self._on_readable)

    async def wait_ready(self) -> None:
        """Until the zygote has its code and handler compiled; closes it on failure."""
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), START_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    def _on_readable(self) -> None:
        messages, closed = receive(self.control)
        for msg, fds in messages:
            self._dispatch(msg, fds)
        if closed:
            self._on_gone("the zygote exited")

    def _dispatch(self, msg: dict[str, Any], fds: list[int]) -> None:
        op = msg.get("op")
        if op == "ready":
            if fds and self._pidfd < 0:
                self.pid, self._pidfd = int(msg["pid"]), fds.pop(0)
            for fd in fds:
                os.close(fd)
            if not self._ready.done():
                self._ready.set_result(None)
        elif op == "error":
            if not self._ready.done():
                self._ready.set_exception(
                    BackendError(f"zygote setup failed:\n{msg.get('message')}")
                )
        elif op == "spare":
            if len(fds) != 2:
                for fd in fds:
                    os.close(fd)
                return
            pid = int(msg["pid"])
            # The exit future is made now: the exit report may follow in this very batch
            # of messages, before any awaiting task runs.
            exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._exits[pid] = exited
            spare = _Spare(pid, fds[0], socket.socket(fileno=fds[1]), exited)
            while self._waiting:
                wanted = self._waiting.pop(0)
                if not wanted.done():
                    wanted.set_result(spare)
                    return
            if self._spare is not None:
                self._spare.discard()
            self._spare = spare
        elif op == "exit":
            gone = self._exits.pop(int(msg["pid"]), None)
            if gone is not None and not gone.done():
                gone.set_result(int(msg["status"]))

    def _on_gone(self, why: str) -> None:
        if not self.alive:
            return
        self.alive = False
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self.control.fileno())
        if not self._ready.done():
            self._ready.set_exception(BackendError(why))
        for wanted in self._waiting:
            if not wanted.done():
                wanted.set_exception(BackendError(why))
        if self._spare is not None:
            self._spare.discard()
            self._spare = None
        # Its sandboxes die with it (PR_SET_PDEATHSIG), killed by SIGKILL.
        for exited in self._exits.values():
            if not exited.done():
                exited.set_result(_KILLED)
        self._waiting.clear()
        self._exits.clear()

    async def fork(
        self, command: dict[str, Any], fds: list[int]
    ) -> tuple[int, int, asyncio.Future[int]]:
        """Start a sandbox from the spare (waiting for one if need be); returns its host
        pid, a pidfd and its exit future. The fds are the caller's to close."""
        spare = await self._take()
        try:
            self._hand(spare, command, fds)
        finally:
            spare.go.close()
        self._send({"op": "used"})  # the zygote forks the next spare when idle
        return spare.pid, spare.pidfd, spare.exited

    async def arm(
        self, command: dict[str, Any], fds: list[int]
    ) -> tuple[int, int, asyncio.Future[int], socket.socket]:
        """`fork`, but the spare's `go` socket stays open and is the caller's: a pre-
        imported spare (runtime/armed.py) answers on it, and gets its cold start on it."""
        spare = await self._take()
        self._hand(spare, command, fds)
        self._send({"op": "used"})
        return spare.pid, spare.pidfd, spare.exited, spare.go

    async def _take(self) -> _Spare:
        if not self.alive:
            raise BackendError("the zygote is gone")
        spare, self._spare = self._spare, None
        if spare is None:
            waiter: asyncio.Future[_Spare] = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            self._send({"op": "want"})
            spare = await waiter
        return spare

    def _hand(self, spare: _Spare, command: dict[str, Any], fds: list[int]) -> None:
        try:
            socket.send_fds(spare.go, [json.dumps(command).encode()], fds)
        except OSError as e:
            spare.discard()
            raise BackendError(f"cannot start the spare sandbox: {e}") from e

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self.control.send(json.dumps(message).encode())
        except OSError as e:
            self._on_gone(f"cannot reach the zygote: {e}")
            raise BackendError(f"cannot reach the zygote: {e}") from e

    def close(self) -> None:
        self._on_gone("the zygote was closed")
        # EOF alone ends a zygote that is not ready yet (it has no pidfd to kill by).
        self.control.close()
        if self._pidfd >= 0:
            kill_and_wait(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
