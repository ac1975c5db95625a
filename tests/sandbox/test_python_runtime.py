"""lambdalite's Python runtime inside a real sandbox: the handler model as on AWS — the
context object, the environment, logs, and every error type with AWS's exact wording."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest

from lambdalite.sandbox.pool import SandboxPool
from tests.sandbox.conftest import ACCOUNT, Functions, error, invoke, request, result

pytestmark = pytest.mark.sandbox


async def test_context_object_and_environment(pool: SandboxPool, functions: Functions) -> None:
    spec = functions.make(
        """
        import os
        def handler(event, context):
            cc = context.client_context
            return {
                "event": event,
                "request_id": context.aws_request_id,
                "function_name": context.function_name,
                "function_version": context.function_version,
                "invoked_function_arn": context.invoked_function_arn,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
                "remaining": context.get_remaining_time_in_millis(),
                "identity": [context.identity.cognito_identity_id,
                             context.identity.cognito_identity_pool_id],
                "custom": cc.custom, "client_app": cc.client.app_title,
                "env": dict(os.environ),
            }
        """,
        name="ctx",
        memory_mb=256,
        timeout_s=7,
        environment={"GREETING": "hi", "AWS_REGION": "overridden?"},
        region="eu-west-1",
    )
    qualified = f"{spec.function_arn}:$LATEST"
    client_context = json.dumps({"custom": {"k": "v"}, "env": {}, "client": {"app_title": "t"}})
    async with pool.acquire(spec) as sandbox:
        req = request(
            spec,
            {"x": [1, 2]},
            client_context=client_context,
            cognito_identity=json.dumps(
                {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "p"}
            ),
            trace_id="Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
        )
        req = dataclasses.replace(req, invoked_function_arn=qualified)
        outcome = await sandbox.invoke(req)
    body = result(outcome)
    assert body["event"] == {"x": [1, 2]}
    assert body["request_id"] == req.request_id
    assert (body["function_name"], body["function_version"]) == ("ctx", "$LATEST")
    assert body["invoked_function_arn"] == qualified
    assert body["memory_limit_in_mb"] == "256"  # a string, as from awslambdaric
    assert body["log_group_name"] == "/aws/lambda/ctx"
    assert body["log_stream_name"] == outcome.log_stream
    assert outcome.log_stream.endswith("]" + outcome.log_stream.split("]")[1])
    assert "/[$LATEST]" in outcome.log_stream and len(outcome.log_stream.split("]")[1]) == 32
    assert 6000 < body["remaining"] <= 7000
    assert body["identity"] == ["id-1", "p"]
    assert (body["custom"], body["client_app"]) == ({"k": "v"}, "t")
    env = body["env"]
    assert env["GREETING"] == "hi"
    expected = {
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_LAMBDA_FUNCTION_NAME": "ctx",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/ctx",
        "AWS_LAMBDA_LOG_STREAM_NAME": outcome.log_stream,
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "_HANDLER": "app.handler",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "TZ": ":UTC",
        "_X_AMZN_TRACE_ID": req.trace_id,
    }
    assert {k: env.get(k) for k in expected} == expected
    assert not any(ACCOUNT in v for k, v in env.items() if k != "AWS_LAMBDA_LOG_STREAM_NAME")


async def test_warm_sandbox_keeps_globals_and_tmp(pool: SandboxPool, functions: Functions) -> None:
    spec = functions.make(
        """
        import os
        print("init ran")
        calls = 0
        def handler(event, context):
            global calls
            calls += 1
            with open("/tmp/count", "a") as f:
                f.write("x")
            return {"calls": calls, "tmp": len(open("/tmp/count").read()), "pid": os.getpid()}
        """
    )
    first = await invoke(pool, spec)
    second = await invoke(pool, spec)
    assert first.cold and not second.cold
    assert first.init_duration_ms is not None and second.init_duration_ms is None
    assert first.init_log == b"init ran\n" and second.init_log == b""
    assert first.log_stream == second.log_stream
    assert (result(first)["calls"], result(second)["calls"]) == (1, 2)
    assert result(second)["tmp"] == 2


async def test_logs_are_per_invocation(pool: SandboxPool, functions: Functions) -> None:
    spec = functions.make(
        """
        import logging
        logger = logging.getLogger()
        logger.setLevel(logging.INFO)
        def handler(event, context):
            print("printed", event)
            logger.info("logged %s", event)
            return event
        """
    )
    async with pool.acquire(spec) as sandbox:
        a = await sandbox.invoke(request(spec, "a"))
        b = await sandbox.invoke(request(spec, "b"))
    assert a.log.startswith(b"printed a\n[INFO]\t") and a.log.endswith(
        f"\t{a.request_id}\tlogged a\n".encode()
    )
    assert b"printed b" in b.log and b"printed a" not in b.log


async def test_unhandled_exception(pool: SandboxPool, functions: Functions) -> None:
    spec = functions.make(
        "class CustomError(Exception):\n    pass\n\n"
        "def handler(event, context):\n    raise CustomError('some error occurred')\n"
    )
    async with pool.acquire(spec) as sandbox:
        req = request(spec)
        outcome = await sandbox.invoke(req)
        assert sandbox.state == "idle"  # a function error does not cost the sandbox
    body = error(outcome)
    assert body == {
        "errorMessage": "some error occurred",
        "errorType": "CustomError",
        "requestId": req.request_id,
        "stackTrace": [
            '  File "/var/task/app.py", line 5, in handler\n'
            "    raise CustomError('some error occurred')\n"
        ],
    }
    assert outcome.error_type == "CustomError" and not outcome.sandbox_destroyed
    assert outcome.log.startswith(b"[ERROR] CustomError: some error occurred\rTraceback")
    assert "\r\u00a0\u00a0File".encode() in outcome.log


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        ({}, "missing.handler", "Runtime.ImportModuleError",
         "Unable to import module 'missing': No module named 'missing'"),
        ({}, "app.nothere", "Runtime.HandlerNotFound", "Handler 'nothere' missing on module 'app'"),
        ({}, "nodots", "Runtime.MalformedHandlerName",
         "Bad handler 'nodots': not enough values to unpack (expected 2, got 1)"),
        ({"bad.py": "def handler(:\n"}, "bad.handler", "Runtime.UserCodeSyntaxError",
         "Syntax error in module 'bad': invalid syntax (bad.py, line 1)"),
        ({"boom.py": "raise ValueError('bad config')\n"}, "boom.handler", "ValueError",
         "bad config"),
        ({"imp.py": "import not_installed\n"}, "imp.handler", "Runtime.ImportModuleError",
         "Unable to import module 'imp': No module named 'not_installed'"),
    ],
)  # fmt: skip
async def test_init_errors(
    pool: SandboxPool,
    functions: Functions,
    files: dict[str, str],
    handler: str,
    error_type: str,
    message: str,
) -> None:
    spec = functions.make("def handler(e, c):\n    return 1\n", files=files, handler=handler)
    outcome = await invoke(pool, spec)
    body = error(outcome)
    assert (body["errorType"], body["errorMessage"]) == (error_type, message)
    assert body["requestId"] == ""
    assert outcome.error_type == error_type and outcome.sandbox_destroyed and outcome.cold
    assert outcome.init_log.startswith(f"[ERROR] {error_type}: {message}".encode())
    if error_type == "ValueError":
        assert body["stackTrace"][-1].startswith('  File "/var/task/boom.py", line 1')


async def test_unserialisable_result_is_marshal_error(
    pool: SandboxPool, functions: Functions
) -> None:
    spec = functions.make("def handler(e, c):\n    return {1, 2}\n")
    body = error(await invoke(pool, spec))
    assert body["errorType"] == "Runtime.MarshalError"
    assert body["errorMessage"] == (
        "Unable to marshal response: Object of type set is not JSON serializable"
    )


async def test_too_large_response_is_a_function_error(
    pool: SandboxPool, functions: Functions
) -> None:
    spec = functions.make("def handler(e, c):\n    return 'x' * (6 * 1024 * 1024 + 100)\n")
    async with pool.acquire(spec) as sandbox:
        outcome = await sandbox.invoke(request(spec))
        assert sandbox.state == "idle"
    assert error(outcome) == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size "
        "(6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }


async def test_every_invocation_gets_exactly_its_own_output(
    pool: SandboxPool, functions: Functions
) -> None:
    """Output is read from the log pipe by the event loop; an invocation's answer must
    never overtake what it printed (nor take the next one's). Concurrent sandboxes, big
    and small outputs, print and os.write, with and without a final newline."""
    spec = functions.make(
        """
        import os, sys
        def handler(event, context):
            n = event["n"]
            print(f"start {n}")
            if n % 3 == 0:
                print("x" * 70000)  # more than a pipe holds
            os.write(1, f"raw {n}\\n".encode())
            sys.stderr.write(f"end {n}")
            return n
        """,
        name="ordered",
    )

    async def one(n: int) -> None:
        outcome = await invoke(pool, spec, {"n": n})
        assert result(outcome) == n
        text = outcome.log.decode()
        assert text.startswith(f"start {n}\n") and text.endswith(f"end {n}"), text[-80:]
        assert f"raw {n}\n" in text
        assert text.count("start ") == 1

    for wave in range(10):
        await asyncio.gather(*(one(wave * 8 + i) for i in range(8)))
