"""Limits enforced from outside the sandbox, with the platform serving others throughout:
timeout, memory, pids, /tmp size, left-over processes, log floods, exits mid-invoke."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import uuid

import pytest

from lambdalite.sandbox.cgroups import CgroupTree
from lambdalite.sandbox.pool import SandboxPool
from lambdalite.sandbox.sandbox import Sandbox
from lambdalite.sandbox.spec import SandboxSpec
from tests.sandbox.conftest import (
    Functions,
    error,
    invoke,
    processes_with,
    request,
    result,
    wait_gone,
)

pytestmark = pytest.mark.sandbox

HELLO = "def handler(event, context):\n    return 'hello'\n"


async def still_serving(pool: SandboxPool, functions: Functions) -> None:
    assert result(await invoke(pool, functions.make(HELLO))) == "hello"


async def test_timeout_kills_the_sandbox_and_says_so_as_aws(
    pool: SandboxPool, functions: Functions
) -> None:
    spec = functions.make(
        "import time\ndef handler(e, c):\n    print('working')\n    time.sleep(30)\n",
        timeout_s=1.0,
    )
    async with pool.acquire(spec) as sandbox:
        req = request(spec)
        outcome = await sandbox.invoke(req)
    assert 0.9 < outcome.duration_ms / 1000 < 3
    assert outcome.sandbox_destroyed
    assert outcome.error_type == "Sandbox.Timedout"
    assert error(outcome) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {req.request_id} Error: Task timed out after 1.00 seconds",
    }
    assert outcome.log.startswith(b"working\n")
    assert outcome.log.endswith(f" {req.request_id} Task timed out after 1.00 seconds\n".encode())
    await still_serving(pool, functions)


async def test_out_of_memory_is_classified_every_time(
    pool: SandboxPool, functions: Functions
) -> None:
    spec = functions.make(
        "def handler(e, c):\n    hog = bytearray(300 * 1024 * 1024)\n    return len(hog)\n",
        memory_mb=64,
    )
    for _ in range(3):
        outcome = await invoke(pool, spec)
        body = error(outcome)
        assert body["errorType"] == "Runtime.OutOfMemory", body
        assert body["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
        assert outcome.sandbox_destroyed
        assert outcome.max_memory_used_mb >= 60
    await still_serving(pool, functions)


async def test_fork_bomb_is_capped_and_cleaned_up(pool: SandboxPool, functions: Functions) -> None:
    spec = functions.make(
        """
        import os, time
        def handler(event, context):
            forked = 0
            try:
                while True:
                    if os.fork() == 0:
                        while True:  # every child keeps forking: a bomb
                            try:
                                os.fork()
                            except OSError:
                                time.sleep(0.05)
                    forked += 1
            except OSError as e:
                return {"forked": forked, "errno": e.errno}
        """,
        pids_max=40,
    )
    async with pool.acquire(spec) as sandbox:
        outcome = await sandbox.invoke(request(spec))
        body = result(outcome)
        assert body["errno"] == 11 and body["forked"] < 40  # EAGAIN from pids.max
        await still_serving(pool, functions)
    await pool.close()  # the fixture checks that every cgroup could be removed


async def test_process_left_running_dies_with_the_sandbox(
    pool: SandboxPool, functions: Functions
) -> None:
    marker = f"{uuid.uuid4().int % 10**6}.123"
    spec = functions.make(
        "import subprocess\ndef handler(event, context):\n"
        "    subprocess.Popen(['sleep', event['marker']], start_new_session=True)\n"
        "    return 'left it running'\n"
    )
    assert result(await invoke(pool, spec, {"marker": marker})) == "left it running"
    assert len(processes_with(f"sleep\0{marker}")) == 1  # alive while the sandbox is warm
    await pool.retire(spec.function_arn)
    assert await wait_gone(f"sleep\0{marker}") == []


async def test_filling_tmp_hits_ephemeral_storage(pool: SandboxPool, functions: Functions) -> None:
    spec = functions.make(
        """
        def handler(event, context):
            written = 0
            try:
                with open("/tmp/fill", "wb") as f:
                    while True:
                        f.write(b"x" * 1024 * 1024)
                        f.flush()
                        written += 1
            except OSError as e:
                return {"mb": written, "errno": e.errno}
        """,
        ephemeral_storage_mb=16,
        memory_mb=256,
    )
    body = result(await invoke(pool, spec))
    assert body["errno"] == 28 and 14 <= body["mb"] <= 16  # ENOSPC at the size given
    await still_serving(pool, functions)


async def test_stdout_flood_is_capped_not_fatal(pool: SandboxPool, functions: Functions) -> None:
    spec = functions.make(
        "import sys\ndef handler(event, context):\n"
        "    for _ in range(20 * 1024):\n        sys.stdout.write('x' * 1023 + '\\n')\n"
        "    return 'flooded'\n"
    )
    outcome = await invoke(pool, spec)
    assert result(outcome) == "flooded"
    assert len(outcome.log) < 1024 * 1024 + 200
    assert outcome.log.endswith(b"bytes dropped\n")
    second = await invoke(pool, spec)  # the same, warm sandbox keeps working
    assert not second.cold and result(second) == "flooded"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("import sys\n    sys.exit(1)", "Runtime exited with error: exit status 1"),
        ("import os\n    os._exit(3)", "Runtime exited with error: exit status 3"),
        (
            "import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)",
            "Runtime exited with error: signal: killed",
        ),
    ],
)
async def test_exit_mid_invoke_is_runtime_exit_error(
    pool: SandboxPool, functions: Functions, code: str, reason: str
) -> None:
    spec = functions.make(f"def handler(event, context):\n    print('bye')\n    {code}\n")
    async with pool.acquire(spec) as sandbox:
        req = request(spec)
        outcome = await sandbox.invoke(req)
    assert error(outcome) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {req.request_id} Error: {reason}",
    }
    assert outcome.sandbox_destroyed
    assert outcome.log.startswith(b"bye\n")
    await still_serving(pool, functions)


async def test_many_misbehaving_functions_at_once(pool: SandboxPool, functions: Functions) -> None:
    specs: list[SandboxSpec] = [
        functions.make("import time\ndef handler(e, c):\n    time.sleep(5)\n", timeout_s=0.5),
        functions.make("def handler(e, c):\n    bytearray(200 << 20)\n", memory_mb=64),
        functions.make("import os\ndef handler(e, c):\n    os._exit(1)\n"),
        functions.make(HELLO),
    ]
    outcomes = await asyncio.gather(*(invoke(pool, s) for s in specs))
    assert [o.error_type for o in outcomes] == [
        "Sandbox.Timedout",
        "Runtime.OutOfMemory",
        "Runtime.ExitError",
        None,
    ]
    assert os.getpid() > 0 and signal.SIGKILL  # the platform itself is untouched


async def test_init_that_never_finishes_times_out(pool: SandboxPool, functions: Functions) -> None:
    spec = functions.make("import time\ntime.sleep(30)\ndef handler(e, c):\n    return 1\n")
    sandbox = await Sandbox.start(spec, pool.backend, init_timeout_s=0.5)
    req = request(spec)
    outcome = await sandbox.invoke(req)
    assert error(outcome) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {req.request_id} Error: Task timed out after 0.50 seconds",
    }
    assert outcome.sandbox_destroyed and outcome.cold
    await still_serving(pool, functions)


def test_a_killed_servers_cgroups_are_swept_and_a_live_ones_kept(cgroup_tree: CgroupTree) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()  # a platform process that no longer exists (killed before cleaning up)
    left_behind = cgroup_tree.create("spare", 128, 64)  # named after this live process
    dead_name = f"{gone.pid}-{left_behind.name.partition('-')[2]}x"
    dead_dirs = [d.parent / dead_name for d in left_behind.dirs]
    for d in dead_dirs:
        d.mkdir()
    try:
        assert cgroup_tree.sweep() >= 1
        assert not any(d.exists() for d in dead_dirs)
        assert all(d.exists() for d in left_behind.dirs)  # even empty, a live server's stays
    finally:
        left_behind.remove()
        for d in dead_dirs:
            with contextlib.suppress(OSError):
                d.rmdir()


async def test_sandboxes_run_as_batch_work_so_waking_one_never_preempts_the_server(
    pool: SandboxPool, functions: Functions
) -> None:
    spec = functions.make(
        "import os\ndef handler(e, c):\n    return os.sched_getscheduler(0) == os.SCHED_BATCH\n"
    )
    # A cold start's first invocation still preempts (it is what the caller waits on);
    # from the second on, the warm sandbox is batch work.
    assert result(await invoke(pool, spec)) is False
    assert result(await invoke(pool, spec)) is True
    assert pool.size(spec) == 1  # the same sandbox both times
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the platform itself is not batch
