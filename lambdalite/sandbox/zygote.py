"""The platform's handle on one zygote process (lambdalite.runtime.zygote is its inside).

The zygote is started from the real interpreter binary, never a shim, with `-I -S` and an
empty environment: ~9 ms instead of ~100 ms through a pyenv shim (platform-facts).
Messages go over a SOCK_SEQPACKET socketpair, one JSON object per message, fds attached
with SCM_RIGHTS. The handle reads them from the event loop (`add_reader`), so there is
no thread and no timer per zygote or per sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import lambdalite
from lambdalite.runtime.zygote import ZygoteConfig
from lambdalite.sandbox.backend import BackendError

_KILLED = signal.SIGKILL  # the wait status of a process killed by SIGKILL
START_TIMEOUT_S = 10.0


def real_interpreter() -> str:
    """The interpreter binary itself, resolved through venv and pyenv indirections."""
    base = (
        Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    )
    return str(base.resolve()) if base.exists() else os.path.realpath(sys.executable)


class Zygote:
    def __init__(
        self, config: ZygoteConfig, process: subprocess.Popen[bytes], control: socket.socket
    ) -> None:
        self.config = config
        self.process = process
        self.control = control
        self.alive = True
        self._ids = itertools.count(1)
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._forks: dict[int, asyncio.Future[tuple[int, int]]] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}
        asyncio.get_running_loop().add_reader(control.fileno(), self._on_readable)

    @classmethod
    async def start(
        cls, code_dir: Path, handler: str, python_runtime: bool, uid: int, gid: int
    ) -> Zygote:
        staging = tempfile.mkdtemp(prefix="lambdalite-root-")
        package_dir = Path(lambdalite.__file__).parent
        config = ZygoteConfig(
            staging_dir=staging,
            code_dir=str(code_dir.resolve()),
            python_prefix=str(Path(sys.base_prefix).resolve()),
            package_dir=str(package_dir),
            handler=handler,
            python_runtime=python_runtime,
            uid=uid,
            gid=gid,
        )
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        boot = (
            "import sys; sys.path.insert(0, sys.argv[3]); "
            "from lambdalite.runtime.zygote import main; main()"
        )
        argv = [real_interpreter(), "-I", "-S", "-c", boot, config.to_json(), str(theirs.fileno())]
        argv.append(str(package_dir.parent))
        try:
            process = subprocess.Popen(
                argv, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env={}
            )
        finally:
            theirs.close()
        zygote = cls(config, process, ours)
        try:
            await asyncio.wait_for(asyncio.shield(zygote._ready), START_TIMEOUT_S)
        except BaseException:
            zygote.close()
            raise
        finally:
            # The root is mounted in the zygote's own namespace; the host keeps an empty dir.
            shutil.rmtree(staging, ignore_errors=True)
        return zygote

    def _on_readable(self) -> None:
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.control, 1 << 16, 4)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data, fds = b"", []
            if not data:
                self._on_gone("the zygote exited")
                return
            self._dispatch(json.loads(data), fds)

    def _dispatch(self, msg: dict[str, Any], fds: list[int]) -> None:
        op = msg.get("op")
        if op == "ready":
            if not self._ready.done():
                self._ready.set_result(None)
        elif op == "error":
            if not self._ready.done():
                self._ready.set_exception(
                    BackendError(f"zygote setup failed:\n{msg.get('message')}")
                )
        elif op == "forked":
            future = self._forks.pop(int(msg["id"]), None)
            if "error" in msg or not fds:
                for fd in fds:
                    os.close(fd)
                if future is not None and not future.done():
                    future.set_exception(BackendError(f"fork failed: {msg.get('error')}"))
                return
            pid = int(msg["pid"])
            # Registered here, not by the awaiting coroutine: the exit report may follow
            # in this very batch of messages.
            self._exits[pid] = asyncio.get_running_loop().create_future()
            if future is None or future.done():
                os.close(fds[0])
            else:
                future.set_result((pid, fds[0]))
        elif op == "exit":
            waiter = self._exits.pop(int(msg["pid"]), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(int(msg["status"]))

    def _on_gone(self, why: str) -> None:
        if not self.alive:
            return
        self.alive = False
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self.control.fileno())
        if not self._ready.done():
            self._ready.set_exception(BackendError(why))
        for future in self._forks.values():
            if not future.done():
                future.set_exception(BackendError(why))
        # Its sandboxes die with it (PR_SET_PDEATHSIG), killed by SIGKILL.
        for waiter in self._exits.values():
            if not waiter.done():
                waiter.set_result(_KILLED)
        self._forks.clear()
        self._exits.clear()

    async def fork(
        self, command: dict[str, Any], fds: list[int]
    ) -> tuple[int, int, asyncio.Future[int]]:
        """Ask for a sandbox; returns its host pid, a pidfd and its exit future."""
        if not self.alive:
            raise BackendError("the zygote is gone")
        request_id = next(self._ids)
        future: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
        self._forks[request_id] = future
        message = json.dumps({**command, "op": "fork", "id": request_id}).encode()
        try:
            socket.send_fds(self.control, [message], fds)
        except OSError as e:
            self._forks.pop(request_id, None)
            raise BackendError(f"cannot reach the zygote: {e}") from e
        pid, pidfd = await future
        return pid, pidfd, self._exits[pid]

    def close(self) -> None:
        self._on_gone("the zygote was closed")
        self.control.close()
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
