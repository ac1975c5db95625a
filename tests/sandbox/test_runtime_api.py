"""The Runtime API over HTTP: its rules in-process, and AWS's own runtime client
(awslambdaric, unmodified) as a provided.al2023 function's bootstrap in a real sandbox."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lambdalite.sandbox.pool import SandboxPool
from lambdalite.sandbox.runtime_api import RuntimeApiServer
from lambdalite.sandbox.session import RuntimeSession
from lambdalite.sandbox.spec import InvocationRequest, SandboxSpec
from tests.sandbox.conftest import Functions, error, invoke, request, result

BASE = "/2018-06-01/runtime"


async def http(
    port: int, method: str, path: str, body: bytes = b"", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [f"{method} {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}"]
    head += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    status_line = await reader.readuntil(b"\r\n")
    raw = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
    fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in raw if line)}
    data = await reader.readexactly(int(fields["content-length"]))
    writer.close()
    return int(status_line.split()[1]), fields, data


@pytest.fixture
async def api() -> AsyncIterator[tuple[RuntimeSession, int]]:
    session = RuntimeSession()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    server = RuntimeApiServer(session, listener)
    await server.start()
    yield session, listener.getsockname()[1]
    await server.close()


async def test_next_delivers_the_event_with_aws_headers(api: tuple[RuntimeSession, int]) -> None:
    session, port = api
    next_call = asyncio.ensure_future(http(port, "GET", f"{BASE}/invocation/next"))
    await asyncio.wait_for(session.ready, 2)
    reply = session.invoke(
        InvocationRequest(
            "rid-1",
            b'{"a":1}',
            "arn:aws:lambda:us-east-1:1:function:f:7",
            deadline=1542409706.888,
            client_context='{"custom":{}}',
            trace_id="Root=1-x",
        )
    )
    status, headers, body = await next_call
    assert (status, body) == (200, b'{"a":1}')
    assert headers["lambda-runtime-aws-request-id"] == "rid-1"
    assert headers["lambda-runtime-deadline-ms"] == "1542409706888"
    assert (
        headers["lambda-runtime-invoked-function-arn"] == "arn:aws:lambda:us-east-1:1:function:f:7"
    )
    assert headers["lambda-runtime-trace-id"] == "Root=1-x"
    assert headers["lambda-runtime-client-context"] == '{"custom":{}}'
    assert "lambda-runtime-cognito-identity" not in headers  # empty: not sent, as the emulator
    status, _, body = await http(port, "POST", f"{BASE}/invocation/rid-1/response", b'"ok"')
    assert (status, json.loads(body)) == (202, {"status": "OK"})
    assert (await reply).payload == b'"ok"'
    # The same id again: already answered.
    status, _, body = await http(port, "POST", f"{BASE}/invocation/rid-1/response", b'"again"')
    assert (status, json.loads(body)) == (
        400,
        {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"},
    )


async def test_calls_out_of_order_are_invalid_state_transitions(
    api: tuple[RuntimeSession, int],
) -> None:
    session, port = api
    status, _, body = await http(port, "POST", f"{BASE}/invocation/nope/response", b"1")
    assert status == 403 and json.loads(body)["errorType"] == "InvalidStateTransition"
    assert json.loads(body)["errorMessage"].startswith("State transition from Init to")
    next_call = asyncio.ensure_future(http(port, "GET", f"{BASE}/invocation/next"))
    await asyncio.wait_for(session.ready, 2)
    status, _, body = await http(port, "POST", f"{BASE}/init/error", b"{}")
    assert status == 403  # init is over once the runtime asked for an event
    session.invoke(InvocationRequest("rid-2", b"{}", "arn", deadline=1.0))
    await next_call
    status, _, body = await http(port, "GET", f"{BASE}/invocation/next")
    assert status == 403  # an event is still open
    status, _, body = await http(port, "POST", f"{BASE}/invocation/other/response", b"1")
    assert (status, json.loads(body)["errorType"]) == (400, "InvalidRequestID")


async def test_error_and_init_error_types(api: tuple[RuntimeSession, int]) -> None:
    session, port = api
    error_body = b'{"errorMessage":"m","errorType":"Runtime.ImportModuleError"}'
    status, _, _ = await http(
        port,
        "POST",
        f"{BASE}/init/error",
        error_body,
        Lambda_Runtime_Function_Error_Type="RuntimeError",
    )
    assert status == 202
    failure = await session.ready
    assert failure is not None
    assert failure.payload == error_body and failure.error_type == "Runtime.Unknown"


async def test_too_large_response_is_413_and_a_function_error(
    api: tuple[RuntimeSession, int],
) -> None:
    session, port = api
    next_call = asyncio.ensure_future(http(port, "GET", f"{BASE}/invocation/next"))
    await asyncio.wait_for(session.ready, 2)
    reply = session.invoke(InvocationRequest("big", b"{}", "arn", deadline=1.0))
    await next_call
    status, _, body = await http(
        port, "POST", f"{BASE}/invocation/big/response", b"x" * (6 * 1024 * 1024 + 101)
    )
    assert (status, json.loads(body)["errorType"]) == (413, "RequestEntityTooLarge")
    answer = await reply
    assert answer.error_type == "Function.ResponseSizeTooLarge"
    assert json.loads(answer.payload)["errorMessage"] == (
        "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
    )


def _ric_function(functions: Functions, source: str, handler: str = "app.handler") -> SandboxSpec:
    ric = pytest.importorskip("awslambdaric")
    site = Path(ric.__file__).parent.parent
    spec = functions.make(
        source,
        runtime="provided.al2023",
        handler=handler,
        files={"bootstrap": f"#!/bin/sh\nexec /usr/bin/python3 -m awslambdaric {handler}\n"},
    )
    if not Path("/usr/bin/python3").exists():
        pytest.skip("the provided bootstrap needs /usr/bin/python3")
    for item in site.iterdir():
        if item.name in ("awslambdaric", "simplejson") or item.name.startswith("runtime_client"):
            copy = shutil.copytree if item.is_dir() else shutil.copy
            copy(item, spec.code_dir / item.name)
    return spec


RIC_APP = """
import os
def handler(event, context):
    print("from awslambdaric")
    if event.get("fail"):
        raise KeyError("missing")
    return {"event": event, "request_id": context.aws_request_id,
            "arn": context.invoked_function_arn, "memory": context.memory_limit_in_mb,
            "trace": os.environ.get("_X_AMZN_TRACE_ID"), "cwd": os.getcwd(), "uid": os.getuid()}
"""


@pytest.mark.sandbox
async def test_awslambdaric_runs_unmodified(pool: SandboxPool, functions: Functions) -> None:
    spec = _ric_function(functions, RIC_APP)
    async with pool.acquire(spec) as sandbox:
        req = request(spec, {"n": 1}, trace_id="Root=1-abc")
        first = await sandbox.invoke(req)
        failed = await sandbox.invoke(request(spec, {"fail": True}))
        again = await sandbox.invoke(request(spec, {"n": 2}))
    assert result(first) == {
        "event": {"n": 1}, "request_id": req.request_id, "arn": spec.function_arn,
        "memory": "128", "trace": "Root=1-abc", "cwd": "/var/task", "uid": 993,
    }  # fmt: skip
    assert first.log == b"from awslambdaric\n" and first.cold
    body = error(failed)
    assert (body["errorType"], body["errorMessage"]) == ("KeyError", "'missing'")
    assert body["stackTrace"][0].startswith('  File "/var/task/app.py"')
    assert result(again)["event"] == {"n": 2} and not again.cold


@pytest.mark.sandbox
async def test_awslambdaric_init_error(pool: SandboxPool, functions: Functions) -> None:
    spec = _ric_function(functions, RIC_APP, handler="nosuch.handler")
    outcome = await invoke(pool, spec)
    body = error(outcome)
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"] == "Unable to import module 'nosuch': No module named 'nosuch'"
    assert outcome.sandbox_destroyed


@pytest.mark.sandbox
async def test_bootstrap_that_exits_is_exit_error(pool: SandboxPool, functions: Functions) -> None:
    spec = functions.make(
        "", runtime="provided.al2", files={"bootstrap": "#!/bin/sh\necho starting\nexit 2\n"}
    )
    async with pool.acquire(spec) as sandbox:
        req = request(spec)
        outcome = await sandbox.invoke(req)
    assert error(outcome) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {req.request_id} Error: "
        "Runtime exited with error: exit status 2",
    }
    assert outcome.init_log == b"starting\n"
