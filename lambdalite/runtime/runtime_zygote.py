"""The runtime zygote: one pre-initialised interpreter per runtime, forking version zygotes.

The root of the zygote tree (SOCK's, USENIX ATC'18). Started by the platform
(`lambdalite.sandbox.runtime_zygote`) from the real interpreter binary with `-I -S` and
an empty environment (no site, no `.pth` imports: platform-facts, "Starting Python
fast"), inside bubblewrap where it is installed, which has built the common root
already; elsewhere it builds that root itself first (`root.py`). Its `RuntimeConfig` is
JSON in argv[1], its control socket's fd in argv[2]. Once, it imports everything a
version zygote and a sandbox run (this module imports `zygote`, which imports the
runtime), then `gc.freeze()`s so every process forked below shares those pages.

Then, for each `fork` message — a version's `VersionConfig`, with the version zygote's
own control socket and the version's code as a detached mount attached — it forks a
child that becomes that version's zygote (`zygote.run`) and talks to the platform
directly from then on. It keeps nothing of the version: the fds are closed in the
parent at once. It reaps its children and exits when the platform closes its control
socket. Version zygotes do not die with it: fork clears PDEATHSIG, and each exits when
the platform closes *its* control socket, so a runtime zygote can die and be restarted
while the versions forked from it keep serving.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import sys
import traceback
from typing import Any, NamedTuple, NoReturn

from lambdalite.runtime import _syscalls as sc
from lambdalite.runtime import root, zygote


class RuntimeConfig(NamedTuple):
    name: str  # names this zygote tree in the command line of each of its processes
    isolated: bool
    cap_last: int  # /proc/sys/kernel/cap_last_cap: there is no /proc in the root
    pidns: int  # an fd of the host's pid namespace, which version zygotes return to
    # The common root's steps when this process builds it itself (no bubblewrap);
    # empty under bubblewrap or without isolation.
    root_steps: list[list[str]]
    staging_dir: str = ""  # an empty host directory the self-built root is mounted on
    python_prefix: str = ""  # host paths, rewritten after the self-built root's pivot
    package_dir: str = ""

    def to_json(self) -> str:
        return json.dumps(self._asdict())


class RuntimeZygote:
    def __init__(self, cfg: RuntimeConfig, control: socket.socket) -> None:
        self.cfg = cfg
        self.control = control
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def setup(self) -> None:
        sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
        if self.cfg.root_steps:
            root.build(self.cfg.root_steps, self.cfg.staging_dir)
            root.rewrite_sys_path(self.cfg.python_prefix, self.cfg.package_dir)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        gc.collect()
        gc.freeze()

    def send(self, message: dict[str, Any], fds: list[int] | None = None) -> None:
        socket.send_fds(self.control, [json.dumps(message).encode()], fds or [])

    def fork_version(self, msg: dict[str, Any], fds: list[int]) -> None:
        """Fork the zygote of one version. fds: its control socket, then (isolated) its
        code as a detached mount, and its /opt as another if it has one."""
        control, code = fds[0], fds[1] if len(fds) > 1 else -1
        opt = fds[2] if len(fds) > 2 else -1
        try:
            pid = os.fork()
        except OSError as e:
            with socket.socket(fileno=control) as theirs:
                message = {"op": "error", "message": f"cannot fork a version zygote: {e}"}
                theirs.send(json.dumps(message).encode())
            for fd in (code, opt):
                if fd >= 0:
                    os.close(fd)
            return
        if pid == 0:
            self._become_version(msg, control, code, opt)
        os.close(control)
        for fd in (code, opt):
            if fd >= 0:
                os.close(fd)

    def _become_version(self, msg: dict[str, Any], control: int, code: int, opt: int) -> NoReturn:
        try:
            # Only this zygote may hold its end: the platform's EOF on it must mean the
            # runtime zygote is gone, whatever its version zygotes do.
            os.close(self.control.detach())
            signal.set_wakeup_fd(-1)
            os.close(self.wake_r)
            os.close(self.wake_w)
            config = zygote.VersionConfig(**msg["version"])
            channel = socket.socket(fileno=control)
            zygote.run(config, channel, code, self.cfg.pidns, self.cfg.cap_last, opt)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
        os._exit(1)

    def reap(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    def serve(self) -> None:
        poller = select.poll()  # not select: inherited fd numbers may pass 1024
        poller.register(self.control.fileno(), select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        # A pidfd, not a pid: the platform kills this zygote through it without a race.
        me = os.pidfd_open(os.getpid())
        try:
            self.send({"op": "ready", "pid": os.getpid()}, [me])
        finally:
            os.close(me)
        while True:
            readable = {fd for fd, _ in poller.poll()}
            if self.wake_r in readable:
                self.reap()
            if self.control.fileno() in readable:
                data, fds, _, _ = socket.recv_fds(self.control, 1 << 16, 4)
                if not data:
                    return  # the platform closed us
                msg = json.loads(data)
                if msg.get("op") == "fork":
                    self.fork_version(msg, fds)
                else:
                    for fd in fds:
                        os.close(fd)


def main() -> None:
    cfg = RuntimeConfig(**json.loads(sys.argv[1]))
    control = socket.socket(fileno=int(sys.argv[2]))
    runtime = RuntimeZygote(cfg, control)
    try:
        runtime.setup()
    except BaseException:
        runtime.send({"op": "error", "message": traceback.format_exc()})
        raise
    runtime.serve()


if __name__ == "__main__":
    main()
