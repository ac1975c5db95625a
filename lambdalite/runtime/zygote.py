"""The version zygote: one pre-initialised process per function version that forks its
sandboxes.

Forked by the runtime zygote (`runtime_zygote.py`), which has imported the runtime and
sits in the common root already, it does only what is particular to its version, once:

1. enters a mount namespace of its own and attaches the version's code, which the
   platform sent as a detached mount (`open_tree`), read-only at /var/task — so no
   other zygote, and none of its sandboxes, ever has this code in its mount table, and
   the runtime zygote never sees the data dir;
2. compiles the handler module (not executing it), then `gc.freeze()`s so forked
   sandboxes keep sharing those pages.

Then it keeps one *spare* forked ahead of demand (a pid namespace, its init, and a
runtime waiting on a socket: `isolation.prepare`) and offers it to the platform, which
sends it its sandbox's resources directly (`isolation.activate`); it forks the next one
when told the spare was used, and reports every sandbox's exit status, because only a
parent can `waitpid` its children. It talks to the platform over its own control
socket (SOCK_SEQPACKET, one JSON object per message, fds attached), not through the
runtime zygote, and exits when the platform closes it. See
docs/decisions/0101-sandbox-isolation.md.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import struct
import sys
import traceback
from typing import Any, NamedTuple, NoReturn

from lambdalite.runtime import _syscalls as sc
from lambdalite.runtime import armed, bootstrap, isolation
from lambdalite.runtime.handler import Precompiled, precompile
from lambdalite.runtime.root import OPT_ROOT, TASK_ROOT, import_paths

SPARE_DELAY_S = 0.005
# NamedTuples, not dataclasses, here and in the modules the zygotes import: dataclasses
# pulls in inspect, and every module imported costs each runtime zygote start.


class VersionConfig(NamedTuple):
    handler: str
    python_runtime: bool  # False: `provided.*`, the sandbox execs /var/task/bootstrap
    tmp_mb: int  # EphemeralStorage: the size of each sandbox's /tmp
    uid: int
    gid: int
    # False: the rlimits-only fallback (no root): no namespaces, no mounts, no uid
    # change; the code stays at its host path, `code_dir`. docs/decisions/0101.
    isolated: bool = True
    code_dir: str = ""
    # The version has an /opt (layers, dependencies: docs/decisions/0701), sent as a
    # second detached mount; without isolation, at its host path `opt_dir`.
    opt: bool = False
    opt_dir: str = ""


def _enter_code(code: int, opt: int = -1) -> None:
    """A mount namespace of this version's own, with its code read-only at /var/task and
    its layers, if any, read-only at /opt."""
    sc.unshare(sc.CLONE_NEWNS)
    # Nothing mounted from here on may propagate to the runtime zygote or the host.
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    # A bind mount ignores MS_RDONLY on creation: remount it to make it read-only.
    flags = sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV
    for tree, target in ((code, TASK_ROOT), (opt, OPT_ROOT)):
        if tree >= 0:
            sc.move_mount(tree, target)
            os.close(tree)
            sc.mount(None, target, None, flags)


class Zygote:
    def __init__(
        self, cfg: VersionConfig, control: socket.socket, pidns: int, cap_last: int
    ) -> None:
        self.cfg = cfg
        self.control = control
        self.pidns = pidns  # our own pid namespace, to return to after each spare
        self.cap_last = cap_last
        self.pre: Precompiled | None = None
        self.statuses: dict[int, int] = {}  # sandbox pid -> read end of its status pipe
        self.offered = False  # a spare is with the platform, not used yet
        self.claimed = False  # ... and a cold start that asked for one will take it
        self.wanted = 0  # cold starts waiting for a spare no offered one will serve
        self.zygote_pid = os.getpid()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    @property
    def task_root(self) -> str:
        return TASK_ROOT if self.cfg.isolated else self.cfg.code_dir

    def setup(self, code: int, opt: int = -1) -> None:
        if self.cfg.isolated:
            _enter_code(code, opt)
        opt_root = (OPT_ROOT if self.cfg.isolated else self.cfg.opt_dir) if self.cfg.opt else None
        # The runtime zygote never had these on its path: no stale finder.
        sys.path[0:0] = import_paths(self.task_root, opt_root)
        if self.cfg.python_runtime:
            self.pre = precompile(self.cfg.handler, self.task_root)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        gc.collect()
        gc.freeze()

    def send(self, message: dict[str, Any], fds: list[int] | None = None) -> None:
        socket.send_fds(self.control, [json.dumps(message).encode()], fds or [])

    def _prefork(self, claimed: bool = False) -> None:
        """Fork the next spare — a pid namespace with its init and a runtime waiting on
        `go` — and offer it to the platform, which hands it its sandbox's resources
        directly, one hop fewer than through the zygote on the cold path. `claimed`: a
        cold start is waiting for it."""
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        go, go_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            if self.cfg.isolated:
                sc.unshare(sc.CLONE_NEWPID)
            pid = os.fork()
            if pid == 0:
                # Only the platform may hold the other end: EOF on it is how a spare
                # learns that nobody will use it.
                go.close()
                self._spare(go_child, status_w)
            if self.cfg.isolated:
                # Back to our own pid namespace for children, else the next unshare fails.
                sc.setns(self.pidns, sc.CLONE_NEWPID)
            pidfd = os.pidfd_open(pid)
        except BaseException:
            os.close(status_r)
            raise
        finally:
            os.close(status_w)
            go_child.close()
        self.statuses[pid] = status_r
        self.offered, self.claimed = True, claimed
        try:
            # A pidfd cannot be reused by another process: the platform signals through it.
            self.send({"op": "spare", "pid": pid}, [pidfd, go.fileno()])
        finally:
            os.close(pidfd)
            go.close()

    def handle(self, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if op == "used":
            self.offered = False  # the next spare: at once if wanted, else when idle
        elif op == "want" and self.offered and not self.claimed:
            # The spare offered last is still on its way to the platform: it serves this
            # cold start, and forking another now would only compete with it for a CPU.
            self.claimed = True
        elif op == "want":
            self.wanted += 1  # a cold start is waiting: it cannot wait for idleness
        if self.wanted and not self.offered:
            self.wanted -= 1
            self._prefork(claimed=True)

    def _spare(self, go: socket.socket, status_w: int) -> None:
        try:
            # Only the zygote may talk to the platform; the platform's EOF on the control
            # socket must mean the zygote is gone.
            os.close(self.control.detach())
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(sig, signal.SIG_DFL)
            cfg = self.cfg
            if cfg.isolated:
                isolation.prepare(status_w, cfg.tmp_mb, self.cap_last, cfg.uid, cfg.gid)
            else:
                isolation.prepare_unisolated(status_w, self.zygote_pid)
            if cfg.python_runtime:
                bootstrap.prepare()
            data, fds, _, _ = socket.recv_fds(go, 1 << 20, 64)
            if not data:
                os._exit(0)  # the zygote went away before using this spare
            cmd = json.loads(data)
            channel_fd = isolation.CHANNEL_FD
            if cfg.isolated and cmd.get("arm"):
                cmd, channel_fd = self._armed(go, cmd, fds)
            elif cfg.isolated:
                isolation.activate(cmd, fds, self.cap_last, cfg.uid, cfg.gid)
            else:
                isolation.activate_unisolated(cmd, fds, self.task_root)
            env: dict[str, str] = cmd["env"]
            if not cfg.python_runtime:
                path = f"{self.task_root}/bootstrap"
                os.execve(path, [path], env)
            os.environ.clear()
            os.environ.update(env)
            channel = socket.socket(fileno=channel_fd)
            bootstrap.serve(channel, cfg.handler, self.pre)
            os._exit(0)
        except SystemExit as e:
            # sys.exit() in a handler ends the runtime, as under awslambdaric.
            sys.stdout.flush()
            if e.code is None or isinstance(e.code, int):
                os._exit(e.code or 0)
            print(e.code, file=sys.stderr, flush=True)
            os._exit(1)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(127)

    def _armed(
        self, go: socket.socket, cmd: dict[str, Any], fds: list[int]
    ) -> tuple[dict[str, Any], int]:
        """A pre-imported spare (runtime/armed.py): become the sandbox, import its layer's
        modules as the sandbox user, say so, and wait for the cold start's fds. Returns
        the cold start's command and the channel's fd."""
        cfg = self.cfg
        armed.arm(cmd, fds, self.cap_last, cfg.uid, cfg.gid, go.fileno())
        os.environ.clear()
        os.environ.update(cmd["env"])
        loaded = armed.preimport(list(cmd.get("modules", [])))
        go.send(json.dumps({"armed": loaded}).encode())
        data, fds, _, _ = socket.recv_fds(go, 1 << 20, 64)
        if not data:
            os._exit(0)  # discarded unused
        started: dict[str, Any] = json.loads(data)
        return started, armed.finish(fds, go)

    def reap(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.send({"op": "exit", "pid": pid, "status": self._runtime_status(pid, status)})

    def _runtime_status(self, pid: int, status: int) -> int:
        """What the sandbox's init reported for its runtime, else init's own status."""
        fd = self.statuses.pop(pid, None)
        if fd is None:
            return status
        try:
            raw = os.read(fd, 4)
        except OSError:
            raw = b""
        finally:
            os.close(fd)
        return int(struct.unpack("!i", raw)[0]) if len(raw) == 4 else status

    def serve(self) -> None:
        self.poller = select.poll()
        self.poller.register(self.control.fileno(), select.POLLIN)
        self.poller.register(self.wake_r, select.POLLIN)
        # Not the platform's child: a pidfd is how it can kill this zygote without a race.
        me = os.pidfd_open(os.getpid())
        try:
            self.send({"op": "ready", "pid": os.getpid()}, [me])
        finally:
            os.close(me)
        self._prefork()
        while True:
            # The next spare is forked once the zygote has been idle for a moment, so
            # that fork never competes with the sandbox that was just started.
            idle_wait = None if self.offered else SPARE_DELAY_S
            # poll, not select: the zygote inherits fd numbers from a server that may hold
            # thousands of fds (one per warm sandbox), past select's FD_SETSIZE of 1024.
            timeout_ms = None if idle_wait is None else int(idle_wait * 1000)
            readable = {fd for fd, _ in self.poller.poll(timeout_ms)}
            if not readable:
                self._prefork()
            if self.wake_r in readable:
                self.reap()
            if self.control.fileno() in readable:
                data = self.control.recv(1 << 16)
                if not data:
                    return  # the platform closed us: our sandboxes die with us (PDEATHSIG)
                self.handle(json.loads(data))


def run(
    cfg: VersionConfig,
    control: socket.socket,
    code: int,
    pidns: int,
    cap_last: int,
    opt: int = -1,
) -> NoReturn:
    """Become the version zygote (in a child the runtime zygote just forked) and serve
    until the platform closes `control`. Never returns."""
    try:
        zygote = Zygote(cfg, control, pidns, cap_last)
        try:
            zygote.setup(code, opt)
        except BaseException:
            zygote.send({"op": "error", "message": traceback.format_exc()})
            raise
        zygote.serve()
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    # The platform closed us: our sandboxes die with us (PDEATHSIG).
    os._exit(0)
