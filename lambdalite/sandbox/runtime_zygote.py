"""The platform's handle on one runtime zygote (lambdalite.runtime.runtime_zygote is its
inside): the root of a zygote tree, from which each function version's zygote is forked.

Started once per interpreter and root (the backend keys them), from the real
interpreter binary, never a shim, with `-I -S` and an empty environment: ~9 ms instead
of ~100 ms through a pyenv shim (platform-facts). Under bubblewrap when installed
(`bubblewrap.py` builds the root); else the zygote builds the same root itself. Either
way it runs in a session of its own, so a terminal's Ctrl-C reaches only the server,
which then closes its zygotes in order.

`fork_version` hands it a new control socket and the version's code as a detached
mount; the version zygote it forks talks over that socket directly (`zygote.Zygote`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import lambdalite
from lambdalite.runtime.root import LANG_ROOT, RUNTIME_ROOT
from lambdalite.runtime.runtime_zygote import RuntimeConfig
from lambdalite.runtime.zygote import VersionConfig
from lambdalite.sandbox import bubblewrap
from lambdalite.sandbox.backend import BackendError
from lambdalite.sandbox.root_layout import Step
from lambdalite.sandbox.zygote import START_TIMEOUT_S, Zygote, exited, kill_and_wait, receive

_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[3]); "
    "from lambdalite.runtime.runtime_zygote import main; main()"
)


def python_prefix() -> str:
    return str(Path(sys.base_prefix).resolve())


def package_dir() -> str:
    return str(Path(lambdalite.__file__).parent)


def real_interpreter() -> str:
    """The interpreter binary itself, resolved through venv and pyenv indirections."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    base = Path(sys.base_prefix) / "bin" / version
    return str(base.resolve()) if base.exists() else os.path.realpath(sys.executable)


def _cap_last() -> int:
    with open("/proc/sys/kernel/cap_last_cap") as f:
        return int(f.read())


class RuntimeZygote:
    def __init__(self, process: subprocess.Popen[bytes], control: socket.socket) -> None:
        self.process = process  # bwrap, or the interpreter itself
        self.control = control
        self.pid = 0  # the zygote's own (under bwrap, bwrap's child); known once ready
        self._pidfd = -1
        self._alive = True
        # Told when the zygote dies; set once it is ready (a failed start is not a death).
        self._on_gone_callback: Callable[[RuntimeZygote], None] | None = None
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writable: asyncio.Future[None] | None = None
        asyncio.get_running_loop().add_reader(control.fileno(), self._on_readable)

    @classmethod
    async def start(
        cls,
        name: str,
        steps: list[Step],
        bwrap: str | None,
        isolated: bool = True,
        on_gone: Callable[[RuntimeZygote], None] | None = None,
    ) -> RuntimeZygote:
        """Start one and wait until it is ready to fork. `steps`: the common root
        (`root_layout`), built by `bwrap` if given, else by the zygote itself; ignored
        without isolation. Raises BackendError."""
        pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC) if isolated else -1
        staging = tempfile.mkdtemp(prefix="lambdalite-root-") if isolated and not bwrap else ""
        try:
            config = RuntimeConfig(
                name=name,
                isolated=isolated,
                cap_last=_cap_last() if isolated else 0,
                pidns=pidns,
                root_steps=steps if isolated and not bwrap else [],
                staging_dir=staging,
                python_prefix=python_prefix(),
                package_dir=package_dir(),
            )
            process, ours = cls._spawn(config, steps, bwrap if isolated else None)
            zygote = cls(process, ours)
            try:
                await asyncio.wait_for(asyncio.shield(zygote._ready), START_TIMEOUT_S)
            except BaseException:
                zygote.close()
                raise
        finally:
            if pidns >= 0:
                os.close(pidns)
            if staging:
                # The root is mounted in the zygote's own namespace; the host keeps an
                # empty directory.
                shutil.rmtree(staging, ignore_errors=True)
        zygote._on_gone_callback = on_gone
        return zygote

    @staticmethod
    def _spawn(
        config: RuntimeConfig, steps: list[Step], bwrap: str | None
    ) -> tuple[subprocess.Popen[bytes], socket.socket]:
        # Synchronous on purpose: fork+exec takes well under a millisecond here, and the
        # asyncio child watcher would add a thread per zygote.
        ours, theirs = _socketpair()
        fds: list[int] = []
        try:
            tail = [_BOOT, config.to_json(), str(theirs.fileno())]
            interpreter = real_interpreter()
            inside_prefix = os.path.relpath(interpreter, config.python_prefix)
            if bwrap and not inside_prefix.startswith(".."):
                # Started inside the root: its prefix is /var/lang, lambdalite's package
                # is under /var/runtime, and nothing needs its path rewritten.
                inside = [f"{LANG_ROOT}/{inside_prefix}", "-I", "-S", "-c", *tail, RUNTIME_ROOT]
                argv, fds = bubblewrap.command(bwrap, steps, inside)
            elif bwrap:
                raise BackendError(f"the interpreter {interpreter} is outside its prefix")
            else:
                package_parent = str(Path(config.package_dir).parent)
                argv = [interpreter, "-I", "-S", "-c", *tail, package_parent]
            inherited = [theirs.fileno(), *fds, *([config.pidns] if config.pidns >= 0 else [])]
            process = subprocess.Popen(
                argv, pass_fds=inherited, stdin=subprocess.DEVNULL, env={}, start_new_session=True
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
            for fd in fds:
                os.close(fd)
        return process, ours

    @property
    def alive(self) -> bool:
        """Checked now, not when the event loop gets to its EOF: a version zygote whose
        start failed because this one just died must see it dead, to retry elsewhere."""
        if self._alive:
            died = self._pidfd >= 0 and exited(self._pidfd)
            if died or _hung_up(self.control):
                self._on_gone("the runtime zygote exited")
        return self._alive

    def _on_readable(self) -> None:
        messages, closed = receive(self.control)
        for msg, fds in messages:
            if msg.get("op") == "ready" and fds and self._pidfd < 0:
                self.pid, self._pidfd = int(msg["pid"]), fds.pop(0)
                if not self._ready.done():
                    self._ready.set_result(None)
            elif msg.get("op") == "error" and not self._ready.done():
                failure = BackendError(f"runtime zygote setup failed:\n{msg.get('message')}")
                self._ready.set_exception(failure)
            for fd in fds:
                os.close(fd)
        if closed:
            self._on_gone("the runtime zygote exited")

    def _on_gone(self, why: str) -> None:
        if not self._alive:
            return
        self._alive = False
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self.control.fileno())
        if not self._ready.done():
            status = self.process.poll()
            if status is not None:
                why += f" with status {status} (its error, if any, is in the server's log)"
            self._ready.set_exception(BackendError(why))
        if self._writable is not None and not self._writable.done():
            self._writable.set_exception(BackendError(why))
        callback, self._on_gone_callback = self._on_gone_callback, None
        if callback is not None:
            callback(self)

    async def fork_version(self, config: VersionConfig, code: int, opt: int = -1) -> Zygote:
        """Fork the zygote of one version and wait until it is ready. `code`: the
        version's code as a detached mount (-1 without isolation), `opt` its /opt (-1:
        none); the caller closes them. Raises BackendError."""
        if not self.alive:
            raise BackendError("the runtime zygote is gone")
        ours, theirs = _socketpair()
        zygote = Zygote(config, ours)
        try:
            message = json.dumps({"op": "fork", "version": config._asdict()}).encode()
            trees = [fd for fd in (code, opt) if fd >= 0]
            await self._send(message, [theirs.fileno(), *trees])
        except BaseException:
            zygote.close()
            raise
        finally:
            theirs.close()
        await zygote.wait_ready()
        return zygote

    async def _send(self, message: bytes, fds: list[int]) -> None:
        """Send, waiting while the socket is full (a burst of new versions)."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                socket.send_fds(self.control, [message], fds)
                return
            except BlockingIOError:
                pass
            except OSError as e:
                self._on_gone(f"cannot reach the runtime zygote: {e}")
                raise BackendError(f"cannot reach the runtime zygote: {e}") from e
            self._writable = writable = loop.create_future()
            loop.add_writer(self.control.fileno(), _resolve, writable)
            try:
                await writable
            finally:
                loop.remove_writer(self.control.fileno())

    def close(self) -> None:
        """Stop it. The version zygotes it forked are not its to stop: each has its own
        handle and exits when that handle closes."""
        self._on_gone_callback = None
        self._on_gone("the runtime zygote was closed")
        self.control.close()  # it exits on EOF
        if self._pidfd >= 0:
            kill_and_wait(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _hung_up(control: socket.socket) -> bool:
    """Whether the other end of `control` is closed (its messages may still be queued)."""
    try:
        return control.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


def _socketpair() -> tuple[socket.socket, socket.socket]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    return ours, theirs
