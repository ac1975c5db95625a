"""The zygote: one pre-initialised process per function version that forks its sandboxes.

Started by `lambdalite.sandbox.zygote.Zygote` from the real interpreter binary with
`-I -S` (no site, no `.pth` imports: platform-facts, "Starting Python fast"), its
`ZygoteConfig` as JSON in argv[1] and the control socket's fd in argv[2]. Once, it:

1. enters a private mount namespace and builds the root every sandbox of this version
   will see: a tmpfs holding read-only binds of /usr, the interpreter at /var/lang, the
   runtime at /var/runtime, the code at /var/task, a few device nodes and a synthetic
   /etc; then `pivot_root`s into it, so nothing of the host's tree stays reachable;
2. imports the runtime and compiles the handler module (not executing it), then
   `gc.freeze()`s so forked sandboxes keep sharing those pages.

Then it keeps one *spare* forked ahead of demand (a pid namespace, its init, and a
runtime waiting on a socket: `isolation.prepare`) and offers it to the platform, which
sends it its sandbox's resources directly (`isolation.activate`); it forks the next one
when told the spare was used, and reports every sandbox's exit status, because only a
parent can `waitpid` its children. Messages: SOCK_SEQPACKET, one JSON object each, fds
attached. See docs/decisions/0101-sandbox-isolation.md.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import socket
import struct
import sys
import traceback
from typing import Any, NamedTuple

from lambdalite.runtime import _syscalls as sc
from lambdalite.runtime import bootstrap, isolation
from lambdalite.runtime.handler import Precompiled, precompile

TASK_ROOT = "/var/task"
LANG_ROOT = "/var/lang"
RUNTIME_ROOT = "/var/runtime"
_DEVICES = ("null", "zero", "full", "random", "urandom")


SPARE_DELAY_S = 0.005
# NamedTuples, not dataclasses, here and in the modules the zygote imports: dataclasses
# pulls in inspect, and every module imported costs each zygote start (~0.1-2 ms each).


class ZygoteConfig(NamedTuple):
    staging_dir: str  # an empty host directory the zygote mounts its root on
    code_dir: str
    python_prefix: str  # the host interpreter's sys.base_prefix, bound at /var/lang
    package_dir: str  # the host's lambdalite package, bound at /var/runtime/lambdalite
    handler: str
    python_runtime: bool  # False: `provided.*`, the sandbox execs /var/task/bootstrap
    tmp_mb: int  # EphemeralStorage: the size of each sandbox's /tmp
    uid: int
    gid: int
    # False: the rlimits-only fallback (no root): no namespaces, no pivot, no uid change;
    # the code stays at its host path. docs/decisions/0101, "Known gaps".
    isolated: bool = True
    # /etc/resolv.conf of sandboxes with network (the host's upstream resolvers); "" none.
    resolv_conf: str = ""

    def to_json(self) -> str:
        return json.dumps(self._asdict())


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
    if cfg.resolv_conf:
        _write(f"{root}/etc/resolv.conf", cfg.resolv_conf)
    os.chdir(root)
    sc.pivot_root(".", ".old")
    os.chdir("/")
    sc.umount("/.old", sc.MNT_DETACH)
    os.rmdir("/.old")
    sc.mount(None, "/", None, sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID)


def _rewrite_sys_path(cfg: ZygoteConfig) -> None:
    """Point the import system at the paths inside the new root.

    Packages imported before the pivot (encodings, lambdalite...) keep absolute host
    paths in `__path__`; without this, a lazy submodule import such as `encodings.idna`
    fails inside the sandbox.
    """
    moves = ((cfg.python_prefix, LANG_ROOT), (cfg.package_dir, f"{RUNTIME_ROOT}/lambdalite"))

    def moved(entry: str) -> str:
        for old, new in moves:
            if entry == old or entry.startswith(old + "/"):
                return new + entry[len(old) :]
        return entry

    stdlib = [moved(p) for p in sys.path if p.startswith(cfg.python_prefix)]
    sys.path[:] = [TASK_ROOT, RUNTIME_ROOT, *stdlib]
    sys.path_importer_cache.clear()
    sys.prefix = sys.exec_prefix = sys.base_prefix = sys.base_exec_prefix = LANG_ROOT
    for module in list(sys.modules.values()):
        path = getattr(module, "__path__", None)
        if isinstance(path, list):
            path[:] = [moved(p) for p in path]
        spec = getattr(module, "__spec__", None)
        locations = getattr(spec, "submodule_search_locations", None)
        if isinstance(locations, list):
            locations[:] = [moved(p) for p in locations]
        file = getattr(module, "__file__", None)
        if isinstance(file, str):
            with contextlib.suppress(AttributeError, TypeError):
                module.__file__ = moved(file)


class Zygote:
    def __init__(self, cfg: ZygoteConfig, control: socket.socket) -> None:
        self.cfg = cfg
        self.control = control
        self.pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        with open("/proc/sys/kernel/cap_last_cap") as f:
            self.cap_last = int(f.read())
        self.pre: Precompiled | None = None
        self.statuses: dict[int, int] = {}  # sandbox pid -> read end of its status pipe
        self.offered = False  # a spare is with the platform, not used yet
        self.wanted = 0  # cold starts waiting for a spare
        self.zygote_pid = os.getpid()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    @property
    def task_root(self) -> str:
        return TASK_ROOT if self.cfg.isolated else self.cfg.code_dir

    def setup(self) -> None:
        sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
        if self.cfg.isolated:
            _build_root(self.cfg)
            _rewrite_sys_path(self.cfg)
        else:
            sys.path[:0] = [self.cfg.code_dir]
        if self.cfg.python_runtime:
            self.pre = precompile(self.cfg.handler, self.task_root)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        gc.collect()
        gc.freeze()

    def send(self, message: dict[str, Any], fds: list[int] | None = None) -> None:
        socket.send_fds(self.control, [json.dumps(message).encode()], fds or [])

    def _prefork(self) -> None:
        """Fork the next spare — a pid namespace with its init and a runtime waiting on
        `go` — and offer it to the platform, which hands it its sandbox's resources
        directly, one hop fewer than through the zygote on the cold path."""
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
        self.offered = True
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
        elif op == "want":
            self.wanted += 1  # a cold start is waiting: it cannot wait for idleness
        if self.wanted and not self.offered:
            self.wanted -= 1
            self._prefork()

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
            if cfg.isolated:
                isolation.activate(cmd, fds, self.cap_last, cfg.uid, cfg.gid)
            else:
                isolation.activate_unisolated(cmd, fds, self.task_root)
            env: dict[str, str] = cmd["env"]
            if not cfg.python_runtime:
                path = f"{self.task_root}/bootstrap"
                os.execve(path, [path], env)
            os.environ.clear()
            os.environ.update(env)
            channel = socket.socket(fileno=isolation.CHANNEL_FD)
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
        self.send({"op": "ready"})
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
