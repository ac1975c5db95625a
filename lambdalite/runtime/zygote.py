"""The zygote: one pre-initialised process per function version that forks its sandboxes.

Started by `lambdalite.sandbox.zygote_backend.ZygoteBackend` from the real interpreter
binary with `-I -S` (no site, no `.pth` imports: platform-facts, "Starting Python fast"),
its `ZygoteConfig` as JSON in argv[1] and the control socket's fd in argv[2]. Once, it:

1. enters a private mount namespace and builds the root every sandbox of this version
   will see: a tmpfs holding read-only binds of /usr, the interpreter at /var/lang, the
   runtime at /var/runtime, the code at /var/task, a few device nodes and a synthetic
   /etc; then `pivot_root`s into it, so nothing of the host's tree stays reachable;
2. imports the runtime and compiles the handler module (not executing it), then
   `gc.freeze()`s so forked sandboxes keep sharing those pages.

Then it serves fork commands (SOCK_SEQPACKET, one JSON message plus fds each) and reports
every sandbox's exit status, because only a parent can `waitpid` its children. Each fork
enters a new pid namespace, its cgroups and network namespace, and drops privileges: see
`lambdalite.runtime.isolation`.
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
from dataclasses import asdict, dataclass
from typing import Any

from lambdalite.runtime import _syscalls as sc
from lambdalite.runtime import bootstrap, isolation
from lambdalite.runtime.handler import Precompiled, precompile

TASK_ROOT = "/var/task"
LANG_ROOT = "/var/lang"
RUNTIME_ROOT = "/var/runtime"
_DEVICES = ("null", "zero", "full", "random", "urandom")


@dataclass(frozen=True)
class ZygoteConfig:
    staging_dir: str  # an empty host directory the zygote mounts its root on
    code_dir: str
    python_prefix: str  # the host interpreter's sys.base_prefix, bound at /var/lang
    package_dir: str  # the host's lambdalite package, bound at /var/runtime/lambdalite
    handler: str
    python_runtime: bool  # False: `provided.*`, the sandbox execs /var/task/bootstrap
    uid: int
    gid: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _bind(source: str, target: str, *, readonly: bool = True) -> None:
    sc.mount(source, target, None, sc.MS_BIND)
    if readonly:
        # A bind mount ignores MS_RDONLY on creation: remount it to make it read-only.
        flags = sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY | sc.MS_NOSUID
        sc.mount(None, target, None, flags)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _build_root(cfg: ZygoteConfig) -> None:
    root = cfg.staging_dir
    sc.unshare(sc.CLONE_NEWNS)
    # Nothing mounted from here on may propagate back to the host.
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    sc.mount("tmpfs", root, "tmpfs", sc.MS_NOSUID, "size=1m,mode=755")
    for d in (
        "usr", "etc/ssl/certs", "dev", "proc", "tmp", "var/task", "var/lang",
        "var/runtime/lambdalite", "opt", ".old",
    ):  # fmt: skip
        os.makedirs(f"{root}/{d}")
    os.chmod(f"{root}/tmp", 0o1777)
    _bind("/usr", f"{root}/usr")
    _bind(cfg.python_prefix, f"{root}{LANG_ROOT}")
    _bind(cfg.code_dir, f"{root}{TASK_ROOT}")
    _bind(cfg.package_dir, f"{root}{RUNTIME_ROOT}/lambdalite")
    if os.path.isdir("/etc/ssl/certs"):
        _bind("/etc/ssl/certs", f"{root}/etc/ssl/certs")
    for name in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{name}") or os.path.isdir(f"/usr/{name}"):
            os.symlink(f"usr/{name}", f"{root}/{name}")
    for name in ("ld.so.cache", "nsswitch.conf"):
        if os.path.exists(f"/etc/{name}"):
            open(f"{root}/etc/{name}", "w").close()
            _bind(f"/etc/{name}", f"{root}/etc/{name}")
    for name in _DEVICES:
        open(f"{root}/dev/{name}", "w").close()
        _bind(f"/dev/{name}", f"{root}/dev/{name}", readonly=False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):  # fmt: skip
        os.symlink(target, f"{root}/dev/{name}")
    # sbx_user1051 (uid 993) is the user AWS Lambda runs functions as.
    _write(f"{root}/etc/passwd", f"root:x:0:0::/root:/sbin/nologin\n"
           f"sbx_user1051:x:{cfg.uid}:{cfg.gid}::/tmp:/sbin/nologin\n")  # fmt: skip
    _write(f"{root}/etc/group", f"root:x:0:\nsbx_user1051:x:{cfg.gid}:\n")
    _write(f"{root}/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n")
    os.chdir(root)
    sc.pivot_root(".", ".old")
    os.chdir("/")
    sc.umount("/.old", sc.MNT_DETACH)
    os.rmdir("/.old")
    sc.mount(None, "/", None, sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID)


def _rewrite_sys_path(cfg: ZygoteConfig) -> None:
    def moved(entry: str) -> str:
        if entry.startswith(cfg.python_prefix):
            return LANG_ROOT + entry[len(cfg.python_prefix) :]
        return entry

    stdlib = [moved(p) for p in sys.path if p.startswith(cfg.python_prefix)]
    sys.path[:] = [TASK_ROOT, RUNTIME_ROOT, *stdlib]
    sys.prefix = sys.exec_prefix = sys.base_prefix = sys.base_exec_prefix = LANG_ROOT


class Zygote:
    def __init__(self, cfg: ZygoteConfig, control: socket.socket) -> None:
        self.cfg = cfg
        self.control = control
        self.pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        with open("/proc/sys/kernel/cap_last_cap") as f:
            self.cap_last = int(f.read())
        self.pre: Precompiled | None = None
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def setup(self) -> None:
        sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
        _build_root(self.cfg)
        _rewrite_sys_path(self.cfg)
        if self.cfg.python_runtime:
            self.pre = precompile(self.cfg.handler, TASK_ROOT)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        gc.collect()
        gc.freeze()

    def send(self, message: dict[str, Any], fds: list[int] | None = None) -> None:
        socket.send_fds(self.control, [json.dumps(message).encode()], fds or [])

    def fork(self, cmd: dict[str, Any], fds: list[int]) -> None:
        try:
            sc.unshare(sc.CLONE_NEWPID)
            pid = os.fork()
            if pid == 0:
                self._child(cmd, fds)
            # Back to our own pid namespace for children, else the next unshare fails.
            sc.setns(self.pidns, sc.CLONE_NEWPID)
            pidfd = os.pidfd_open(pid)
        except OSError as e:
            self.send({"op": "forked", "id": cmd["id"], "error": str(e)})
            return
        finally:
            for fd in fds:
                os.close(fd)
        # A pidfd cannot be reused by another process: the parent signals through it.
        self.send({"op": "forked", "id": cmd["id"], "pid": pid}, [pidfd])
        os.close(pidfd)

    def _child(self, cmd: dict[str, Any], fds: list[int]) -> None:
        try:
            # fd 3 becomes the sandbox's channel: forget the control socket, do not close it.
            self.control.detach()
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(sig, signal.SIG_DFL)
            isolation.enter(cmd, fds, self.cap_last, self.cfg.uid, self.cfg.gid)
            env: dict[str, str] = cmd["env"]
            if not self.cfg.python_runtime:
                path = f"{TASK_ROOT}/bootstrap"
                os.execve(path, [path], env)
            os.environ.clear()
            os.environ.update(env)
            channel = socket.socket(fileno=isolation.CHANNEL_FD)
            bootstrap.serve(channel, self.cfg.handler, self.pre)
            os._exit(0)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(127)

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
            self.send({"op": "exit", "pid": pid, "status": status})

    def serve(self) -> None:
        self.send({"op": "ready"})
        while True:
            readable, _, _ = select.select([self.control, self.wake_r], [], [])
            if self.wake_r in readable:
                self.reap()
            if self.control in readable:
                data, fds, _, _ = socket.recv_fds(self.control, 1 << 20, 64)
                if not data:
                    return  # the platform closed us: our sandboxes die with us (PDEATHSIG)
                self.fork(json.loads(data), fds)


def main() -> None:
    cfg = ZygoteConfig(**json.loads(sys.argv[1]))
    control = socket.socket(fileno=int(sys.argv[2]))
    zygote = Zygote(cfg, control)
    try:
        zygote.setup()
    except BaseException:
        zygote.send({"op": "error", "message": traceback.format_exc()})
        raise
    zygote.serve()


if __name__ == "__main__":
    main()
