"""The platform's handle on one zygote process (lambdalite.runtime.zygote is its inside).

The zygote is started from the real interpreter binary, never a shim, with `-I -S` and an
empty environment: ~9 ms instead of ~100 ms through a pyenv shim (platform-facts).
Messages go over a SOCK_SEQPACKET socketpair, one JSON object per message, fds attached
with SCM_RIGHTS: `ready`, `spare` (pid, pidfd and the spare's socket), `exit` from the
zygote; `want` and `used` to it. A cold start sends the sandbox's resources straight to
the spare, not through the zygote. The handle reads messages from the event loop
(`add_reader`), so there is no thread and no timer per zygote or per sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
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
    def __init__(
        self, config: ZygoteConfig, process: subprocess.Popen[bytes], control: socket.socket
    ) -> None:
        self.config = config
        self.process = process
        self.control = control
        self.alive = True
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._spare: _Spare | None = None
        self._waiting: list[asyncio.Future[_Spare]] = []
        self._exits: dict[int, asyncio.Future[int]] = {}
        asyncio.get_running_loop().add_reader(control.fileno(), self._on_readable)

    @staticmethod
    def _spawn(config: ZygoteConfig) -> tuple[subprocess.Popen[bytes], socket.socket]:
        # Synchronous on purpose: fork+exec of the interpreter takes well under a
        # millisecond here, and the asyncio child watcher would add a thread per zygote.
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        boot = (
            "import sys; sys.path.insert(0, sys.argv[3]); "
            "from lambdalite.runtime.zygote import main; main()"
        )
        package_parent = str(Path(config.package_dir).parent)
        argv = [real_interpreter(), "-I", "-S", "-c", boot, config.to_json()]
        argv += [str(theirs.fileno()), package_parent]
        try:
            process = subprocess.Popen(
                argv, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env={}
            )
        finally:
            theirs.close()
        return process, ours

    @staticmethod
    def _config(
        code_dir: Path,
        handler: str,
        python_runtime: bool,
        tmp_mb: int,
        uid: int,
        gid: int,
        isolated: bool,
        resolv_conf: str = "",
    ) -> ZygoteConfig:
        return ZygoteConfig(
            staging_dir=tempfile.mkdtemp(prefix="lambdalite-root-"),
            code_dir=str(code_dir.resolve()),
            python_prefix=str(Path(sys.base_prefix).resolve()),
            package_dir=str(Path(lambdalite.__file__).parent),
            handler=handler,
            python_runtime=python_runtime,
            tmp_mb=tmp_mb,
            uid=uid,
            gid=gid,
            isolated=isolated,
            resolv_conf=resolv_conf,
        )

    @classmethod
    async def start(
        cls,
        code_dir: Path,
        handler: str,
        python_runtime: bool,
        tmp_mb: int,
        uid: int,
        gid: int,
        isolated: bool = True,
        resolv_conf: str = "",
    ) -> Zygote:
        config = cls._config(
            code_dir, handler, python_runtime, tmp_mb, uid, gid, isolated, resolv_conf
        )
        staging = config.staging_dir
        process, ours = cls._spawn(config)
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
        if not self.alive:
            raise BackendError("the zygote is gone")
        spare, self._spare = self._spare, None
        if spare is None:
            waiter: asyncio.Future[_Spare] = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            self._send({"op": "want"})
            spare = await waiter
        try:
            socket.send_fds(spare.go, [json.dumps(command).encode()], fds)
        except OSError as e:
            spare.discard()
            raise BackendError(f"cannot start the spare sandbox: {e}") from e
        finally:
            spare.go.close()
        self._send({"op": "used"})  # the zygote forks the next spare when idle
        return spare.pid, spare.pidfd, spare.exited

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self.control.send(json.dumps(message).encode())
        except OSError as e:
            self._on_gone(f"cannot reach the zygote: {e}")
            raise BackendError(f"cannot reach the zygote: {e}") from e

    def close(self) -> None:
        self._on_gone("the zygote was closed")
        self.control.close()
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
