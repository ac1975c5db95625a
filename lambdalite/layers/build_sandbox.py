"""The sandbox a dependency build runs in: pip, as an unprivileged user, under bubblewrap.

pip runs code of the packages it builds (an sdist's setup.py), so a build is as
untrusted as a function, and isolated like one: bubblewrap builds a root of its own —
/usr, the interpreter at /var/lang, lambdalite's runtime and the interpreter's pip read-
only, a synthetic /etc — with its own pid, ipc and uts namespaces, a writable staging
directory at /build and nothing else of the host: no data dir, no home, no server
socket. It joins a network namespace of the sandbox kind (0102: outbound allowed, the
host and private ranges not; `NetnsPool`) and a cgroup with a memory and pids limit,
both before bwrap starts (`build_boot.py`). Inside, `pip_runner.py` drops to the build
user, sets no_new_privs and installs the functions' seccomp filter before pip starts.
The time limit, the size cap and the kill are the platform's, from outside.

Without root (the rlimits-only fallback of 0101) there is no isolation for functions
either; pip then runs directly, in the staging directory, and the build log says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from lambdalite.runtime.root import LANG_ROOT, RUNTIME_ROOT
from lambdalite.sandbox.cgroups import Cgroup, CgroupTree
from lambdalite.sandbox.netns import Netns, NetnsPool
from lambdalite.sandbox.root_layout import Step, common_root
from lambdalite.sandbox.runtime_zygote import package_dir, python_prefix, real_interpreter

BUILD_DIR = "/build"
WHEELS_DIR = "/wheels"
PIP_DIR = "/var/pip"
TMP_MB = 64
PIDS_MAX = 1024
# Only what the switch to the build user needs; leaving uid 0 drops these too.
_CAPABILITIES = ("CAP_SETUID", "CAP_SETGID")
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[2]); "
    "from lambdalite.layers.{module} import main; main()"
)


@dataclass(frozen=True)
class RunResult:
    status: int | None  # the exit status; None when the platform stopped it
    failure: str | None = None  # why the platform stopped it


def find_pip() -> str | None:
    """The directory holding the server interpreter's `pip` package."""
    import importlib.util

    spec = importlib.util.find_spec("pip")
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(next(iter(spec.submodule_search_locations))).parent)


class BuildSandbox:
    def __init__(
        self,
        bwrap: str | None,
        isolated: bool,
        netns: NetnsPool | None,
        cgroups: CgroupTree | None,
        uid: int,
        gid: int,
        memory_mb: int,
        leftovers: list[Cgroup] | None = None,
    ) -> None:
        self.bwrap = bwrap
        # Cgroups whose last processes were still going: the backend retries removing them.
        self._leftovers = leftovers if leftovers is not None else []
        self.isolated = isolated
        self._netns = netns
        self._cgroups = cgroups
        self.uid = uid
        self.gid = gid
        self.memory_mb = memory_mb
        self.pip_site = find_pip()

    @property
    def unavailable(self) -> str | None:
        """Why builds cannot run here (None: they can)."""
        if self.pip_site is None:
            return "pip is not installed for the server's interpreter (python -m ensurepip)"
        if self.isolated and self.bwrap is None:
            return (
                "dependency builds run under bubblewrap, which is not installed (apt: bubblewrap)"
            )
        return None

    @property
    def description(self) -> str:
        if not self.isolated:
            return "NOT isolated (no root: pip runs directly on the host)"
        return f"bubblewrap ({self.bwrap}), unprivileged, seccomp, network as a sandbox's"

    # -- paths as the build sees them ----------------------------------------------------
    def python(self) -> str:
        if not self.isolated:
            return real_interpreter()
        inside = os.path.relpath(real_interpreter(), python_prefix())
        return f"{LANG_ROOT}/{inside}"

    def build_dir(self, staging: Path) -> str:
        return BUILD_DIR if self.isolated else str(staging)

    def wheels_dir(self, find_links: str) -> str:
        return WHEELS_DIR if self.isolated else find_links

    def pip_dir(self) -> str:
        assert self.pip_site is not None
        return PIP_DIR if self.isolated else self.pip_site

    # -- running ---------------------------------------------------------------------------
    async def run(
        self,
        staging: Path,
        argv: list[str],
        *,
        network: bool,
        find_links: str | None,
        timeout_s: float,
        on_output: Callable[[str], None],
        check: Callable[[], Awaitable[str | None]],
        check_every_s: float = 1.0,
    ) -> RunResult:
        """Run `argv` (as the build sees paths) with `staging` as /build; stream its output
        lines to `on_output`; every `check_every_s`, `check()` may say why to stop."""
        netns: Netns | None = None
        cgroup: Cgroup | None = None
        fds: list[int] = []  # ours to close once the child has its copies; not the netns'
        try:
            if self.isolated and self._netns is not None:
                netns = await self._netns.take(listen=False, network=network)
            if self._cgroups is not None:
                cgroup = self._cgroups.create(
                    f"build-{secrets.token_hex(6)}", self.memory_mb, PIDS_MAX
                )
                fds += cgroup.open_procs()
            command, memfds = await self._command(staging, argv, netns, list(fds), find_links)
            fds += memfds
            pass_fds = [*fds, *([netns.fd] if netns is not None else [])]
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                pass_fds=pass_fds,
                env=self._environment(staging),
                cwd=str(staging) if not self.isolated else "/",
                start_new_session=True,
            )
            for fd in fds:
                os.close(fd)
            fds = []
            return await self._supervise(
                process, cgroup, timeout_s, on_output, check, check_every_s
            )
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            if netns is not None:
                netns.close()
            if cgroup is not None:
                cgroup.kill()
                for _ in range(100):  # its last processes may take a moment to go
                    if cgroup.remove():
                        break
                    await asyncio.sleep(0.01)
                else:
                    self._leftovers.append(cgroup)

    async def _supervise(
        self,
        process: asyncio.subprocess.Process,
        cgroup: Cgroup | None,
        timeout_s: float,
        on_output: Callable[[str], None],
        check: Callable[[], Awaitable[str | None]],
        check_every_s: float,
    ) -> RunResult:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout_s
        failure: str | None = None
        reader = asyncio.ensure_future(_lines(process.stdout, on_output))
        try:
            while not reader.done():
                left = deadline - time.monotonic()
                if left <= 0:
                    failure = f"the build took longer than its limit of {timeout_s:g} seconds"
                    break
                await asyncio.wait([reader], timeout=min(check_every_s, left))
                if not reader.done():
                    failure = await check()
                    if failure:
                        break
        finally:
            if failure is not None or not reader.done():
                _kill(process, cgroup)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader, 10)
            status = await process.wait()
        if failure is None and cgroup is not None and cgroup.oom_kills():
            failure = f"the build ran out of its {self.memory_mb} MB of memory"
        return RunResult(None if failure else status, failure)

    async def _command(
        self,
        staging: Path,
        argv: list[str],
        netns: Netns | None,
        cgroup_fds: list[int],
        find_links: str | None,
    ) -> tuple[list[str], list[int]]:
        if not self.isolated:
            return argv, []
        assert self.bwrap is not None and self.pip_site is not None
        resolv = await self._netns.resolv_conf() if self._netns is not None else ""
        steps = common_root(python_prefix(), package_dir(), self.uid, self.gid, resolv)
        inner = json.dumps(
            {
                "uid": self.uid,
                "gid": self.gid,
                "argv": argv,
                "dirs": [f"{BUILD_DIR}/tmp", f"{BUILD_DIR}/home", f"{BUILD_DIR}/layer"],
                "cwd": BUILD_DIR,
            }
        )
        boot = _BOOT.format(module="pip_runner")
        runner = [self.python(), "-I", "-S", "-c", boot, inner, RUNTIME_ROOT]
        # Directories bwrap would otherwise make as parents of a bind, with mode 0700,
        # which the build user could not enter.
        parents: list[Step] = [["dir", d] for d in ("/etc", "/etc/ssl", "/var", RUNTIME_ROOT)]
        pip: list[Step] = [["dir", PIP_DIR], ["ro-bind", f"{self.pip_site}/pip", f"{PIP_DIR}/pip"]]
        bwrap_argv, memfds = _bwrap_argv(
            self.bwrap, parents + steps + pip, self._environment(staging)
        )
        binds = ["--bind", str(staging), BUILD_DIR]
        if find_links:
            binds += ["--ro-bind", find_links, WHEELS_DIR]
        bwrap_argv = [
            *bwrap_argv,
            "--proc", "/proc",
            "--size", str(TMP_MB * 1024 * 1024), "--tmpfs", "/tmp",
            *binds,
            "--remount-ro", "/",
            "--", *runner,
        ]  # fmt: skip
        host = {
            "netns": netns.fd if netns is not None else -1,
            "cgroups": cgroup_fds,
            "argv": bwrap_argv,
        }
        package_parent = str(Path(package_dir()).parent)
        command = [
            real_interpreter(), "-I", "-S", "-c", _BOOT.format(module="build_boot"),
            json.dumps(host), package_parent,
        ]  # fmt: skip
        return command, memfds

    def _environment(self, staging: Path) -> dict[str, str]:
        build = self.build_dir(staging)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": f"{build}/home",
            "TMPDIR": f"{build}/tmp",
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PIP_NO_INPUT": "1",
        }
        if self.isolated:
            env["LD_LIBRARY_PATH"] = f"{LANG_ROOT}/lib"
        else:
            for name in ("tmp", "home", "layer"):
                (staging / name).mkdir(exist_ok=True)
        return env


def _bwrap_argv(
    bwrap: str, steps: list[Step], environment: dict[str, str]
) -> tuple[list[str], list[int]]:
    """bwrap's arguments for the root `steps` describe (`root_layout`), and the memfds
    holding its synthetic files, which bwrap reads and closes."""
    argv = [
        bwrap, "--die-with-parent", "--new-session", "--clearenv",
        "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--hostname", "build",
    ]  # fmt: skip
    fds: list[int] = []
    try:
        for kind, *args in steps:
            if kind == "file":
                path, text = args
                fd = os.memfd_create("lambdalite-build", 0)
                fds.append(fd)
                os.write(fd, text.encode())
                os.lseek(fd, 0, os.SEEK_SET)
                argv += ["--perms", "0644", "--file", str(fd), path]
            elif kind in ("dir", "ro-bind", "dev-bind", "symlink"):
                argv += [f"--{kind}", *args]
            else:
                raise ValueError(f"unknown root step {kind!r}")
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    argv += ["--cap-drop", "ALL"]
    for cap in _CAPABILITIES:
        argv += ["--cap-add", cap]
    for name, value in environment.items():
        argv += ["--setenv", name, value]
    return argv, fds


async def _lines(stream: asyncio.StreamReader, on_output: Callable[[str], None]) -> None:
    while True:
        try:
            line = await stream.readline()
        except ValueError:  # a line past the reader's limit: take what is there
            line = await stream.read(64 * 1024)
        if not line:
            return
        on_output(line.decode("utf-8", errors="replace"))


def _kill(process: asyncio.subprocess.Process, cgroup: Cgroup | None) -> None:
    # bwrap leads its session; its sandbox dies with it (--die-with-parent, and the pid
    # namespace with its init), and the cgroup kill covers anything in between.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if cgroup is not None:
        cgroup.kill()


def pip_command(sandbox: BuildSandbox, staging: Path, *, find_links: str | None,
                index_url: str | None, cert: str | None) -> list[str]:  # fmt: skip
    """`pip install` of /build/requirements.txt into /build/layer/python, with a report of what it
    resolved, and no bytecode (a sandbox's /opt is read-only, and .pyc files would differ
    from build to build)."""
    build = sandbox.build_dir(staging)
    pip = (
        "import sys; sys.path.insert(0, sys.argv.pop(1)); "
        "from pip._internal.cli.main import main; sys.exit(main())"
    )
    args = [
        sandbox.python(), "-I", "-S", "-c", pip, sandbox.pip_dir(),
        "install", "--requirement", f"{build}/requirements.txt",
        "--target", f"{build}/layer/python", "--report", f"{build}/report.json",
        "--no-cache-dir", "--no-compile", "--disable-pip-version-check",
        "--progress-bar", "off", "--no-input", "--no-warn-script-location",
    ]  # fmt: skip
    if find_links:
        args += ["--no-index", "--find-links", sandbox.wheels_dir(find_links)]
    elif index_url:
        args += ["--index-url", index_url]
    if cert:
        args += ["--cert", cert]
    return args


def system_ca_bundle() -> str | None:
    """The system's CA bundle, which the build sandbox sees at the same path: what the
    host trusts (a proxy's CA included), where pip's own bundle would not do."""
    for path in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"):
        if os.path.isfile(path):
            return path
    return None
