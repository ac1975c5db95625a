"""The rlimits-only fallback (`ZygoteBackend(isolated=False)`), for hosts without root:
no isolation, but the same handler model, Runtime API, timeouts and exit errors. These
tests need neither root nor namespaces."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from lambdalite.sandbox.pool import SandboxPool
from lambdalite.sandbox.zygote_backend import ZygoteBackend
from tests.sandbox.conftest import Functions, error, invoke, request, result, wait_gone
from tests.sandbox.test_runtime_api import RIC_APP, _ric_function


@pytest.fixture
async def fallback() -> AsyncIterator[SandboxPool]:
    pool = SandboxPool(ZygoteBackend(None, isolated=False))
    yield pool
    await pool.close()


def test_this_host_gets_the_isolating_backend_or_a_warning() -> None:
    backend, warning = ZygoteBackend.for_this_host(f"lambdalite-test-host-{os.getpid()}")
    assert backend.isolated == (warning is None)
    if warning is not None:
        assert "NOT isolated" in warning
    elif backend.cgroups is not None:
        backend.cgroups.remove_parent()


async def test_handler_model_without_isolation(fallback: SandboxPool, functions: Functions) -> None:
    spec = functions.make(
        """
        import os, tempfile
        calls = 0
        def handler(event, context):
            global calls
            calls += 1
            return {"calls": calls, "root": os.environ["LAMBDA_TASK_ROOT"], "cwd": os.getcwd(),
                    "tmp": tempfile.gettempdir(), "fn": context.function_name}
        """
    )
    first = result(await invoke(fallback, spec))
    second = result(await invoke(fallback, spec))
    assert (first["calls"], second["calls"]) == (1, 2)
    assert first["root"] == first["cwd"] == str(spec.code_dir.resolve())
    assert first["tmp"].startswith("/tmp/lambdalite-tmp-") and first["fn"] == spec.function_name


async def test_timeout_kills_the_process_group(fallback: SandboxPool, functions: Functions) -> None:
    marker = f"{os.getpid() % 1000}.{id(functions) % 10**6}"
    spec = functions.make(
        "import subprocess, time\ndef handler(event, context):\n"
        "    subprocess.Popen(['sleep', event])\n    time.sleep(30)\n",
        timeout_s=0.5,
    )
    outcome = await invoke(fallback, spec, marker)
    assert error(outcome)["errorType"] == "Sandbox.Timedout" and outcome.sandbox_destroyed
    assert await wait_gone(f"sleep\0{marker}") == []


async def test_exit_is_runtime_exit_error(fallback: SandboxPool, functions: Functions) -> None:
    spec = functions.make("import os\ndef handler(event, context):\n    os._exit(4)\n")
    async with fallback.acquire(spec) as sandbox:
        req = request(spec)
        outcome = await sandbox.invoke(req)
    assert error(outcome)["errorMessage"] == (
        f"RequestId: {req.request_id} Error: Runtime exited with error: exit status 4"
    )


async def test_awslambdaric_over_host_loopback(fallback: SandboxPool, functions: Functions) -> None:
    spec = _ric_function(functions, RIC_APP)
    body = result(await invoke(fallback, spec, {"n": 1}))
    assert body["event"] == {"n": 1} and body["cwd"] == str(spec.code_dir.resolve())
