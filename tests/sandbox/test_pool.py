"""SandboxPool: warm reuse, one invocation per sandbox, keep-alive expiry and scale to zero
driven by `run_once(now=...)` with an injected clock — never by sleeping."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator

import pytest

from lambdalite.sandbox.backend import BackendError
from lambdalite.sandbox.cgroups import CgroupTree
from lambdalite.sandbox.pool import SandboxPool
from lambdalite.sandbox.sandbox import SandboxState
from lambdalite.sandbox.zygote_backend import ZygoteBackend
from tests.sandbox.conftest import Functions, invoke, processes_with, request, result, wait_gone

pytestmark = pytest.mark.sandbox

PID = "import os\ndef handler(event, context):\n    return os.getppid(), id(handler)\n"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def timed() -> AsyncIterator[tuple[SandboxPool, Clock, ZygoteBackend]]:
    clock = Clock()
    tree = CgroupTree.detect("lambdalite-test-pool")
    assert tree is not None
    backend = ZygoteBackend(tree)
    pool = SandboxPool(backend, keep_alive_s=600, clock=clock)
    yield pool, clock, backend
    await pool.close()
    assert backend.leftover_cgroups == []
    tree.remove_parent()


async def test_warm_reuse_and_concurrent_cold_starts(
    timed: tuple[SandboxPool, Clock, ZygoteBackend], functions: Functions
) -> None:
    pool, _, _ = timed
    spec = functions.make(PID)
    first = await invoke(pool, spec)
    second = await invoke(pool, spec)
    assert first.cold and not second.cold and first.log_stream == second.log_stream
    # Two at once: the warm one is busy with one invocation, the other gets a new sandbox.
    async with pool.acquire(spec) as a, pool.acquire(spec) as b:
        assert a is not b
        assert pool.counts()[SandboxState.BUSY] == 2
        outcomes = await asyncio.gather(a.invoke(request(spec)), b.invoke(request(spec)))
    assert sorted(o.cold for o in outcomes) == [False, True]
    assert pool.counts()[SandboxState.IDLE] == 2
    assert (pool.cold_starts, pool.warm_starts) == (2, 2)


async def test_keep_alive_expiry_and_scale_to_zero(
    timed: tuple[SandboxPool, Clock, ZygoteBackend], functions: Functions
) -> None:
    pool, clock, backend = timed
    spec = functions.make(PID)
    assert result(await invoke(pool, spec))
    clock.now += 599
    assert await pool.run_once() == 0
    assert not (await invoke(pool, spec)).cold  # used again: keep-alive starts over
    clock.now += 599
    assert await pool.run_once() == 0
    assert pool.counts()[SandboxState.IDLE] == 1
    assert await pool.run_once(now=clock.now + 1) == 1  # past keep-alive
    assert pool.counts()[SandboxState.IDLE] == 0
    assert backend.tree.versions == {}  # nothing left of the version: scale to zero
    outcome = await invoke(pool, spec)
    assert outcome.cold and result(outcome)


async def test_a_busy_sandbox_is_never_reaped(
    timed: tuple[SandboxPool, Clock, ZygoteBackend], functions: Functions
) -> None:
    pool, clock, _ = timed
    spec = functions.make(PID)
    async with pool.acquire(spec) as sandbox:
        await pool.run_once(now=clock.now + 10_000)
        assert sandbox.state is SandboxState.IDLE  # held by us: not in the idle list
        assert result(await sandbox.invoke(request(spec)))


async def test_sandboxes_never_cross_versions_or_functions(
    timed: tuple[SandboxPool, Clock, ZygoteBackend], functions: Functions
) -> None:
    pool, _, _ = timed
    spec = functions.make(PID, name="same")
    v1 = dataclasses.replace(spec, version="1")
    changed = dataclasses.replace(spec, environment={"X": "1"})
    stream = (await invoke(pool, spec)).log_stream
    for other in (v1, changed):
        outcome = await invoke(pool, other)
        assert outcome.cold and outcome.log_stream != stream


async def test_retire_sends_the_next_invoke_to_new_code(
    timed: tuple[SandboxPool, Clock, ZygoteBackend], functions: Functions
) -> None:
    pool, _, _ = timed
    spec = functions.make("def handler(e, c):\n    return 'old'\n")
    assert result(await invoke(pool, spec)) == "old"
    (spec.code_dir / "app.py").write_text("def handler(e, c):\n    return 'new'\n")
    await pool.retire(spec.function_arn)
    assert pool.counts()[SandboxState.IDLE] == 0
    assert result(await invoke(pool, spec)) == "new"


async def test_close_leaves_no_process_behind(functions: Functions) -> None:
    tree = CgroupTree.detect("lambdalite-test-close")
    assert tree is not None
    backend = ZygoteBackend(tree)
    pool = SandboxPool(backend)
    spec = functions.make(PID)
    async with pool.acquire(spec):
        pass
    assert result(await invoke(pool, spec))
    # The backend's name is in the command line of every process of its zygote tree:
    # the runtime zygote, each version zygote, their spares and sandboxes.
    marker = backend.tree.name
    assert len(processes_with(marker)) >= 4  # zygotes, a sandbox's init and runtime
    await pool.close()
    assert await wait_gone(marker) == []
    assert backend.leftover_cgroups == []
    tree.remove_parent()


async def test_an_error_in_the_block_destroys_the_sandbox(
    timed: tuple[SandboxPool, Clock, ZygoteBackend], functions: Functions
) -> None:
    pool, _, _ = timed
    spec = functions.make(PID)
    with pytest.raises(asyncio.CancelledError):
        async with pool.acquire(spec) as sandbox:
            raise asyncio.CancelledError()
    assert sandbox.state is SandboxState.DESTROYED
    assert pool.counts()[SandboxState.IDLE] == 0
    assert (await invoke(pool, spec)).cold


async def test_a_sandbox_that_dies_while_idle_is_replaced(
    timed: tuple[SandboxPool, Clock, ZygoteBackend], functions: Functions
) -> None:
    pool, _, _ = timed
    spec = functions.make(
        "import os, threading, time\n"
        "def handler(event, context):\n"
        "    threading.Thread(target=lambda: (time.sleep(0.1), os._exit(0))).start()\n"
        "    return os.getpid()\n"
    )
    async with pool.acquire(spec) as sandbox:
        assert result(await sandbox.invoke(request(spec)))
    await asyncio.wait_for(asyncio.shield(sandbox.process.exited), 5)
    await asyncio.sleep(0)  # let its exit callback run
    assert sandbox.state is SandboxState.DESTROYED
    outcome = await invoke(pool, spec)
    assert outcome.cold and result(outcome)


async def test_a_burst_of_cold_starts_on_one_version(
    timed: tuple[SandboxPool, Clock, ZygoteBackend], functions: Functions
) -> None:
    pool, _, _ = timed
    spec = functions.make("import time\ndef handler(e, c):\n    time.sleep(0.05)\n    return e\n")
    outcomes = await asyncio.gather(*(invoke(pool, spec, i) for i in range(24)))
    assert [result(o) for o in outcomes] == list(range(24))
    assert len({o.log_stream for o in outcomes}) == 24  # one sandbox each, all cold
    assert pool.counts()[SandboxState.IDLE] == 24


async def test_a_backend_failure_is_a_backend_error(
    timed: tuple[SandboxPool, Clock, ZygoteBackend], functions: Functions
) -> None:
    pool, _, _ = timed
    spec = functions.make(PID)
    broken = dataclasses.replace(spec, code_dir=spec.code_dir / "does-not-exist")
    with pytest.raises(BackendError):
        async with pool.acquire(broken):
            pass
    assert result(await invoke(pool, spec))  # and the pool keeps serving


async def test_a_zygote_starts_while_the_server_holds_thousands_of_fds(
    pool: SandboxPool, functions: Functions
) -> None:
    """A busy server holds an fd per warm sandbox; a new zygote inherits high fd numbers
    and must not rely on select() (FD_SETSIZE 1024)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 1300:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low to hold 1,200 fds")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1300), hard))
    held = [os.open("/dev/null", os.O_RDONLY) for _ in range(1200)]
    try:
        spec = functions.make("def handler(event, context):\n    return 'ok'\n")
        assert result(await invoke(pool, spec)) == "ok"
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
