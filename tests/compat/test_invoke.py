"""Invoke through boto3, on real sandboxes: results, errors, logs, qualifiers, limits."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import ssl
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdalite.store.logs import LogStore
from tests.compat.test_functions import error_of
from tests.conftest import create, make_zip

pytestmark = pytest.mark.sandbox

ECHO = """
import os

def handler(event, context):
    print("got", event)
    return {
        "event": event,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "client_context": getattr(context.client_context, "custom", None),
        "env": {k: os.environ.get(k) for k in (
            "AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION", "GREETING", "_HANDLER",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "LAMBDA_TASK_ROOT")},
    }
"""

FAILING = """
def handler(event, context):
    raise ValueError("bad input: " + str(event.get("n")))
"""

SLEEPY = """
import time

def handler(event, context):
    time.sleep(5)
"""


def deploy(lam: Any, name: str, source: str, **extra: Any) -> dict[str, Any]:
    return create(lam, name, Code={"ZipFile": make_zip({"app.py": source})}, **extra)


def invoke(lam: Any, name: str, event: Any = None, **extra: Any) -> tuple[dict[str, Any], Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}), **extra)
    return response, json.loads(response["Payload"].read() or b"null")


def test_invoke_runs_the_handler_with_context_and_environment(
    lam: Any, name: str, account: str
) -> None:
    deploy(lam, name, ECHO, Environment={"Variables": {"GREETING": "hi"}}, MemorySize=256)
    response, body = invoke(lam, name, {"x": 1})
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    assert body["event"] == {"x": 1}
    assert body["function_name"] == name
    assert body["function_version"] == "$LATEST"
    assert body["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:{account}:function:{name}"
    assert int(body["memory_limit_in_mb"]) == 256
    assert body["log_group_name"] == f"/aws/lambda/{name}"
    assert 0 < body["remaining_ms"] <= 3000
    assert body["env"] == {
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_REGION": "us-east-1",
        "GREETING": "hi",
        "_HANDLER": "app.handler",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "LAMBDA_TASK_ROOT": "/var/task",
    }


def test_tail_returns_the_invocations_log(lam: Any, name: str) -> None:
    deploy(lam, name, ECHO)
    response, body = invoke(lam, name, {"k": "v"}, LogType="Tail")
    log = base64.b64decode(response["LogResult"]).decode()
    request_id = body["request_id"]
    assert f"START RequestId: {request_id} Version: $LATEST" in log
    assert "got {'k': 'v'}" in log
    assert f"END RequestId: {request_id}" in log
    assert f"REPORT RequestId: {request_id}\tDuration: " in log
    assert "\tMemory Size: 128 MB\t" in log


def test_the_response_request_id_is_the_invocations_on_both_paths(
    lam: Any, name: str, account: str
) -> None:
    deploy(lam, name, ECHO)
    arn = f"arn:aws:lambda:us-east-1:{account}:function:{name}"
    for function_name in (name, arn):  # the fast path, and the general dispatcher
        response = lam.invoke(FunctionName=function_name, Payload=b"{}")
        body = json.loads(response["Payload"].read())
        assert response["ResponseMetadata"]["RequestId"] == body["request_id"]


def test_a_function_trusts_the_hosts_certificate_authorities(lam: Any, name: str) -> None:
    if not ssl.create_default_context().cert_store_stats()["x509_ca"]:
        pytest.skip("this host has no CA certificates to share")
    source = (
        "import ssl\n"
        "def handler(e, c):\n"
        "    return ssl.create_default_context().cert_store_stats()['x509_ca']\n"
    )
    deploy(lam, name, source)
    _, cas = invoke(lam, name)
    assert cas > 0  # an HTTPS client in the function can verify servers


def test_output_without_a_final_newline_stays_off_the_end_line(lam: Any, name: str) -> None:
    deploy(lam, name, "import sys\ndef handler(e, c):\n    sys.stdout.write('partial')\n")
    response, _ = invoke(lam, name, LogType="Tail")
    lines = base64.b64decode(response["LogResult"]).decode().splitlines()
    assert "partial" in lines
    assert any(line.startswith("END RequestId: ") for line in lines)


def test_unhandled_exception_is_data_not_an_http_error(lam: Any, name: str) -> None:
    deploy(lam, name, FAILING)
    response, body = invoke(lam, name, {"n": 7})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "bad input: 7"
    assert any("app.py" in frame for frame in body["stackTrace"])


def test_timeout_is_sandbox_timedout(lam: Any, name: str) -> None:
    deploy(lam, name, SLEEPY, Timeout=1)
    response, body = invoke(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")


def test_qualifiers_choose_the_version_that_runs(lam: Any, name: str) -> None:
    deploy(lam, name, "def handler(e, c):\n    return 'one'\n", Publish=True)
    lam.update_function_code(
        FunctionName=name, ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 'two'\n"})
    )
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    for qualifier, expected, version in (
        ("1", "one", "1"),
        ("live", "one", "1"),
        ("$LATEST", "two", "$LATEST"),
    ):
        response, body = invoke(lam, name, Qualifier=qualifier)
        assert (body, response["ExecutedVersion"]) == (expected, version)
    response, body = invoke(lam, f"{name}:live")
    assert body == "one"


def test_weighted_alias_sends_traffic_to_both_versions(lam: Any, name: str) -> None:
    deploy(lam, name, "def handler(e, c):\n    return 1\n", Publish=True)
    lam.update_function_code(
        FunctionName=name,
        ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 2\n"}),
        Publish=True,
    )
    lam.create_alias(
        FunctionName=name,
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
    )
    executed = {invoke(lam, name, Qualifier="canary")[0]["ExecutedVersion"] for _ in range(40)}
    assert executed == {"1", "2"}


def test_updated_code_runs_at_once(lam: Any, name: str) -> None:
    deploy(lam, name, "def handler(e, c):\n    return 'old'\n")
    assert invoke(lam, name)[1] == "old"
    lam.update_function_code(
        FunctionName=name, ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 'new'\n"})
    )
    assert invoke(lam, name)[1] == "new"


def test_client_context_reaches_the_handler(lam: Any, name: str) -> None:
    deploy(lam, name, ECHO)
    context = base64.b64encode(json.dumps({"custom": {"app": "mobile"}}).encode()).decode()
    _, body = invoke(lam, name, ClientContext=context)
    assert body["client_context"] == {"app": "mobile"}


def test_dry_run_checks_without_running(lam: Any, name: str) -> None:
    deploy(lam, name, ECHO)
    response = lam.invoke(FunctionName=name, InvocationType="DryRun")
    assert response["StatusCode"] == 204


def test_payload_that_is_not_json_is_refused(lam: Any, name: str) -> None:
    deploy(lam, name, ECHO)
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=name, Payload=b"\x87not json")
    code, message, status = error_of(excinfo)
    assert (code, status) == ("InvalidRequestContentException", 400)
    assert message.startswith("Could not parse request body into json")


def test_payload_over_6_mb_is_too_large(lam: Any, name: str) -> None:
    deploy(lam, name, ECHO)
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=name, Payload=json.dumps("x" * (6 * 1024 * 1024)))
    code, message, status = error_of(excinfo)
    assert (code, status) == ("RequestEntityTooLargeException", 413)
    assert message == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"


def test_reserved_concurrency_zero_throttles(lam: Any, name: str) -> None:
    deploy(lam, name, ECHO)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as excinfo:
        invoke(lam, name)
    code, _, status = error_of(excinfo)
    assert (code, status) == ("TooManyRequestsException", 429)
    assert excinfo.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_unknown_function_is_not_found(lam: Any, name: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        invoke(lam, name)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"


def stored_lines(server: Any, account: str, name: str) -> dict[str, list[str]]:
    """Every stream of the function's log group, after the writer's next flush."""
    engine = server.platform.engine
    future = asyncio.run_coroutine_threadsafe(engine.logs.run_once(), engine._loop)
    future.result(timeout=10)
    store = LogStore(server.platform.db)
    group = f"/aws/lambda/{name}"
    return {
        stream: [e.message for e in store.events(account, group, stream)]
        for stream in store.streams(account, group)
    }


def test_logs_are_stored_one_stream_per_sandbox(
    server: Any, lam: Any, name: str, account: str
) -> None:
    deploy(lam, name, ECHO)
    first = invoke(lam, name, {"n": 1})[1]["request_id"]
    second = invoke(lam, name, {"n": 2})[1]["request_id"]
    streams = stored_lines(server, account, name)
    assert len(streams) == 1, "two warm invocations share their sandbox's stream"
    ((stream, lines),) = streams.items()
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", stream)
    assert lines[lines.index(f"START RequestId: {first} Version: $LATEST\n") + 1] == (
        "got {'n': 1}\n"
    )
    assert f"END RequestId: {second}\n" in lines
    assert sum(line.startswith("REPORT RequestId: ") for line in lines) == 2
    assert next(line for line in lines if "Init Duration" in line).startswith(
        f"REPORT RequestId: {first}"
    ), "only the cold invocation reports its init"
    lam.update_function_configuration(FunctionName=name, MemorySize=256)
    invoke(lam, name, {"n": 3})
    assert len(stored_lines(server, account, name)) == 2, "a new sandbox, a new stream"


def provision(server: Any) -> None:
    """Run the engine's provisioned-concurrency reconcile pass now (its run_once)."""
    engine = server.platform.engine
    asyncio.run_coroutine_threadsafe(engine.provision_once(), engine._loop).result(timeout=30)


def test_provisioned_concurrency_keeps_sandboxes_initialised(
    server: Any, lam: Any, name: str
) -> None:
    deploy(lam, name, ECHO, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    put = lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    provision(server)
    got = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    assert got["Status"] == "READY"
    assert got["AvailableProvisionedConcurrentExecutions"] == 2
    # Initialised ahead of traffic: the first invocations are warm (no Init Duration).
    response, _ = invoke(lam, name, Qualifier="live", LogType="Tail")
    assert "Init Duration" not in base64.b64decode(response["LogResult"]).decode()
    # The reaper keeps them past keep-alive.
    pool = server.platform.engine.pool
    future = asyncio.run_coroutine_threadsafe(
        pool.run_once(now=pool.clock() + 10 * pool.keep_alive_s), server.platform.engine._loop
    )
    future.result(timeout=10)
    got = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    assert got["AvailableProvisionedConcurrentExecutions"] == 2
    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)
    assert [c["FunctionArn"].split(":")[-1] for c in listed["ProvisionedConcurrencyConfigs"]] == [
        "live"
    ]
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    with pytest.raises(ClientError) as excinfo:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    assert error_of(excinfo)[::2] == ("ProvisionedConcurrencyConfigNotFoundException", 404)


def test_provisioned_concurrency_is_refused_on_latest(lam: Any, name: str) -> None:
    deploy(lam, name, ECHO)
    with pytest.raises(ClientError) as excinfo:
        lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )
    code, message, _ = error_of(excinfo)
    assert code == "InvalidParameterValueException" and "unpublished" in message


def test_changes_apply_to_the_very_next_invocation(lam: Any, name: str) -> None:
    deploy(lam, name, "def handler(e, c):\n    return 'v1'\n", Publish=True)
    lam.update_function_code(
        FunctionName=name,
        ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 'v2'\n"}),
        Publish=True,
    )
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert invoke(lam, name, Qualifier="live")[1] == "v1"
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2")
    assert invoke(lam, name, Qualifier="live")[1] == "v2"
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as excinfo:
        invoke(lam, name, Qualifier="live")
    assert error_of(excinfo)[0] == "TooManyRequestsException"
    lam.delete_function_concurrency(FunctionName=name)
    assert invoke(lam, name, Qualifier="live")[1] == "v2"


INTERFACES = """
def handler(event, context):
    with open("/proc/net/dev") as f:
        return sorted(line.split(":")[0].strip() for line in f.readlines()[2:])
"""


def test_network_by_default_and_none_by_tag(server: Any, lam: Any, name: str) -> None:
    if server.platform.engine.network_warning:
        pytest.skip(server.platform.engine.network_warning)
    deploy(lam, name, INTERFACES)
    assert invoke(lam, name)[1] == ["eth0", "lo"]
    arn = lam.get_function_configuration(FunctionName=name)["FunctionArn"]
    lam.tag_resource(Resource=arn, Tags={"lambdalite:network": "none"})
    assert invoke(lam, name)[1] == ["lo"], "a new sandbox with only loopback"
