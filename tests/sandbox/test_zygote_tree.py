"""The zygote tree: one runtime zygote (under bubblewrap where installed, else building
the root itself) forks a zygote per function version. What a version zygote can reach,
what survives the runtime zygote's death, and that nothing outlives `close()`."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from lambdalite.sandbox.cgroups import CgroupTree
from lambdalite.sandbox.pool import SandboxPool
from lambdalite.sandbox.zygote_backend import ZygoteBackend
from tests.sandbox.conftest import Functions, invoke, request, result, wait_gone

pytestmark = pytest.mark.sandbox

PID = "import os\ndef handler(event, context):\n    return os.getpid()\n"


def _parent(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid for {pid}")


def _reaches(pid: int, path: Path) -> bool:
    """Whether `path` exists for the process: resolved in its mount namespace and root."""
    return os.path.exists(f"/proc/{pid}/root{path}")


def _mounts(pid: int) -> str:
    return Path(f"/proc/{pid}/mountinfo").read_text()


def _open_files(pid: int) -> list[str]:
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):  # closed meanwhile (a spare's fork)
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return out


def _runtime_pids(backend: ZygoteBackend) -> set[int]:
    return {runtime.pid for runtime in backend.tree.runtimes.values() if runtime.alive}


async def test_versions_fork_from_the_runtime_zygote_started_at_warm_up(
    rooted: tuple[SandboxPool, ZygoteBackend], functions: Functions
) -> None:
    pool, backend = rooted
    await backend.tree.warm_up()
    (runtime,) = _runtime_pids(backend)
    assert backend.tree.versions == {}  # nothing of any function yet
    a, b = functions.make(PID), functions.make(PID)
    for spec in (a, b):
        assert result(await invoke(pool, spec))
        assert _parent(backend.tree.versions[spec.key].pid) == runtime
    assert _runtime_pids(backend) == {runtime}


async def test_a_version_zygote_reaches_only_its_own_code(
    rooted: tuple[SandboxPool, ZygoteBackend], functions: Functions, tmp_path: Path
) -> None:
    pool, backend = rooted
    data_dir = tmp_path / "the-data-dir"
    data_dir.mkdir()
    (data_dir / "lambdalite.db").write_text("secret")
    a = functions.make(PID, files={"only-a.txt": "a"})
    b = functions.make(PID, files={"only-b.txt": "b"})
    for spec in (a, b):
        await backend.prepare(spec)
    (runtime,) = _runtime_pids(backend)
    for spec, other in ((a, b), (b, a)):
        pid = backend.tree.versions[spec.key].pid
        assert sorted(os.listdir(f"/proc/{pid}/root/var/task")) == sorted(os.listdir(spec.code_dir))
        for hidden in (other.code_dir, spec.code_dir, data_dir, Path("/root"), Path("/home")):
            assert not _reaches(pid, hidden), hidden
        # Not mounted anywhere in its namespace, and no fd open on it.
        mounts = _mounts(pid)
        assert other.code_dir.name not in mounts and data_dir.name not in mounts
        assert [line.split()[4] for line in mounts.splitlines() if spec.code_dir.name in line] == [
            "/var/task"
        ]
        for target in _open_files(pid):
            assert other.code_dir.name not in target and data_dir.name not in target
    # The runtime zygote has no function's code at all, nor the data dir.
    assert os.listdir(f"/proc/{runtime}/root/var/task") == []
    assert not _reaches(runtime, data_dir)
    mounts = _mounts(runtime)
    assert a.code_dir.name not in mounts and b.code_dir.name not in mounts
    assert result(await invoke(pool, a)) and result(await invoke(pool, b))


async def test_a_runtime_zygote_that_dies_is_restarted_and_versions_live_on(
    rooted: tuple[SandboxPool, ZygoteBackend], functions: Functions
) -> None:
    pool, backend = rooted
    before = functions.make(PID)
    first = await invoke(pool, before)
    version_zygote = backend.tree.versions[before.key].pid
    (runtime,) = _runtime_pids(backend)
    os.kill(runtime, signal.SIGKILL)
    # A new version right away: whether or not the death was noticed yet, it gets a
    # runtime zygote that is alive.
    after = functions.make(PID)
    assert result(await invoke(pool, after))
    (restarted,) = _runtime_pids(backend)
    assert restarted != runtime
    assert _parent(backend.tree.versions[after.key].pid) == restarted
    # The version forked from the dead one still serves: warm, and cold from its zygote.
    warm = await invoke(pool, before)
    assert not warm.cold and warm.log_stream == first.log_stream
    async with pool.acquire(before) as one, pool.acquire(before) as two:
        outcomes = [await s.invoke(request(before)) for s in (one, two)]
    assert sorted(o.cold for o in outcomes) == [False, True]
    assert backend.tree.versions[before.key].pid == version_zygote


async def test_versions_with_and_without_network_share_no_root(
    rooted: tuple[SandboxPool, ZygoteBackend], functions: Functions
) -> None:
    """/etc/resolv.conf is part of the common root: offline versions get their own
    runtime zygote, whose root has none."""
    pool, backend = rooted
    probe = (
        "import os\ndef handler(event, context):\n    return os.path.exists('/etc/resolv.conf')\n"
    )
    online, offline = functions.make(probe), functions.make(probe, network="none")
    has_resolvers = bool(await backend.netns.resolv_conf())
    assert result(await invoke(pool, online)) is has_resolvers
    assert result(await invoke(pool, offline)) is False
    assert len(_runtime_pids(backend)) == (2 if has_resolvers else 1)


async def test_a_bubblewrap_that_fails_is_given_up_and_says_so(
    cgroup_tree: CgroupTree, functions: Functions
) -> None:
    backend = ZygoteBackend(cgroup_tree, bwrap="/bin/false")
    pool = SandboxPool(backend)
    try:
        assert result(await invoke(pool, functions.make(PID)))
        assert backend.tree.bwrap is None
        assert "bubblewrap failed" in backend.isolation
        assert "builds the sandbox root itself" in backend.isolation
    finally:
        await pool.close()
    assert await wait_gone(backend.tree.name) == []
