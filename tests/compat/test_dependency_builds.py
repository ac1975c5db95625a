"""requirements.txt builds through boto3 and the CLI: the function is Pending while the
platform installs its dependencies (pip in a build sandbox) into a dependency layer at
/opt/python, then Active; a failed build says why, and an update that fails leaves the
previous code serving.

The server here runs no builder loop of its own: each test drives it with `run_once()`
on the server's event loop. pip installs from a local wheel directory downloaded once per
session (`--no-index --find-links`), so no build depends on the package index.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError

from lambdalite.layers.collector import Collected
from lambdalite.settings import BuildSettings
from tests.compat.test_functions import error_of
from tests.conftest import ROLE, make_zip
from tests.support.cli import cli_env, run, succeeded
from tests.support.servers import RunningServer, start_server
from tests.support.wheels import COMPILED, PURE, download, make_wheel

pytestmark = pytest.mark.sandbox

USES_BOTH = """
import msgpack, six, sys

def handler(event, context):
    return {
        "six": six.__version__,
        "packed": list(msgpack.packb({"a": 1})),
        "compiled": msgpack.Packer.__module__,
        "path": sys.path[:3],
        "six_file": six.__file__,
    }
"""
VERSION_OF_SIX = """
import six

def handler(event, context):
    return {"six": six.__version__, "code": "%s"}
"""
REQUIREMENTS = "six==1.17.0\nmsgpack==1.1.2\n"
MISSING = "no-such-package-lambdalite-test==9.9\n"
FAST_WAITER = {"Delay": 1, "MaxAttempts": 2}


# A package whose import is slow (so the build measures it worth pre-importing) and
# records, at import time, who imported it: privileges, cgroup, environment.
PROBE = """
import os, time

time.sleep(0.05)


def _status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return line.split()[1]


def _fds():
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.append(os.readlink("/proc/self/fd/" + fd))
        except OSError:
            pass
    return found


AT_IMPORT = {
    "pid": os.getpid(),
    "uid": os.getuid(),
    "CapEff": _status("CapEff"),
    "CapBnd": _status("CapBnd"),
    "NoNewPrivs": _status("NoNewPrivs"),
    "Seccomp": _status("Seccomp"),
    "cgroup": sorted(open("/proc/self/cgroup").read().split()),
    "stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
    "greeting": os.environ.get("GREETING"),
    "fds": _fds(),
}
"""
USES_PROBE = """
import os, slowprobe

def handler(event, context):
    return {
        "at_import": slowprobe.AT_IMPORT,
        "pid": os.getpid(),
        "cgroup": sorted(open("/proc/self/cgroup").read().split()),
        "stream": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"],
    }
"""


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = download(tmp_path_factory.mktemp("wheels"), PURE, *COMPILED)
    make_wheel(directory, "slowprobe", "1.0", {"slowprobe/__init__.py": PROBE})
    return directory


def builds_server(data_dir: Path, wheels: Path, **builds: Any) -> RunningServer:
    defaults = {"interval_seconds": 0, "gc_interval_seconds": 0, "gc_grace_seconds": 0}
    settings = BuildSettings(find_links=str(wheels), **{**defaults, **builds})
    return start_server(data_dir, builds=settings)


@pytest.fixture(scope="module")
def bserver(tmp_path_factory: pytest.TempPathFactory, wheels: Path) -> Iterator[RunningServer]:
    running = builds_server(tmp_path_factory.mktemp("builds"), wheels)
    yield running
    running.stop()


@pytest.fixture
def lam(bserver: RunningServer) -> Any:
    return bserver.client()


def on_loop(server: RunningServer, work: Any) -> Any:
    loop = server.platform.engine._loop
    assert loop is not None
    return asyncio.run_coroutine_threadsafe(work, loop).result(timeout=600)


def build(server: RunningServer) -> int:
    """Run the server's builder once: every pending build; returns how many finished."""
    layers = server.platform.layers
    assert layers is not None and layers.builder is not None
    finished: int = on_loop(server, layers.builder.run_once())
    return finished


def collect(server: RunningServer) -> Collected:
    layers = server.platform.layers
    assert layers is not None
    collected: Collected = on_loop(server, layers.collector.run_once())
    return collected


def deploy(lam: Any, name: str, source: str, requirements: str | None, **extra: Any) -> Any:
    files = {"app.py": source}
    if requirements is not None:
        files["requirements.txt"] = requirements
    return lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip(files)},
        **extra,
    )


def invoke(lam: Any, name: str, **extra: Any) -> Any:
    response = lam.invoke(FunctionName=name, **extra)
    assert "FunctionError" not in response, response["Payload"].read()
    return json.loads(response["Payload"].read())


def dependency_layers(server: RunningServer) -> set[str]:
    layers = server.platform.layers
    assert layers is not None
    return layers.trees.dependency_layers()


def test_a_function_with_requirements_is_pending_then_runs_them(
    bserver: RunningServer, lam: Any, name: str
) -> None:
    created = deploy(lam, name, USES_BOTH, REQUIREMENTS)
    assert (created["State"], created["StateReasonCode"]) == ("Pending", "Creating")
    assert "LastUpdateStatus" not in created  # set once creation is done, as on AWS
    with pytest.raises(ClientError) as refused:
        lam.invoke(FunctionName=name)
    assert error_of(refused)[:2] == (
        "ResourceConflictException",
        "The operation cannot be performed at this time. The function is currently in the "
        "following state: Pending",
    )

    assert build(bserver) == 1

    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST_WAITER)
    config = lam.get_function_configuration(FunctionName=name)
    assert (config["State"], config["LastUpdateStatus"]) == ("Active", "Successful")
    result = invoke(lam, name)
    assert result["six"] == "1.17.0"
    assert bytes(result["packed"]) == b"\x81\xa1a\x01"
    assert result["compiled"] == "msgpack._cmsgpack"  # the C extension, not the fallback
    # AWS's order: the code, then /opt/python/lib/pythonX.Y/site-packages, then /opt/python.
    assert result["path"][0] == "/var/task"
    assert result["path"][2] == "/opt/python"
    assert result["six_file"] == "/opt/python/six.py"


def test_the_dependency_layer_is_read_only(bserver: RunningServer, lam: Any, name: str) -> None:
    source = (
        "def handler(event, context):\n"
        "    mounts = [line.split() for line in open('/proc/self/mountinfo')]\n"
        "    return {m[4]: m[5].split(',') for m in mounts if m[4] in ('/opt', '/var/task')}\n"
    )
    deploy(lam, name, source, "six==1.17.0\n")
    build(bserver)
    mounts = invoke(lam, name)
    assert "ro" in mounts["/opt"] and "ro" in mounts["/var/task"]


def test_two_functions_with_the_same_requirements_share_one_build(
    bserver: RunningServer, lam: Any, name: str
) -> None:
    before = dependency_layers(bserver)
    escape = (
        "import markupsafe\n"
        "def handler(event, context):\n"
        "    return [str(markupsafe.escape('<b>')), markupsafe._escape_inner.__module__]\n"
    )
    # The same set, written differently: order, comments and blank lines do not count.
    deploy(lam, f"{name}-a", escape, "markupsafe==3.0.3\nsix==1.17.0\n")
    deploy(lam, f"{name}-b", escape, "# deps\nsix==1.17.0\n\nmarkupsafe==3.0.3  # C\n")

    assert build(bserver) == 1

    for suffix in ("a", "b"):
        assert invoke(lam, f"{name}-{suffix}") == ["&lt;b&gt;", "markupsafe._speedups"]
    assert len(dependency_layers(bserver) - before) == 1
    configs = [lam.get_function_configuration(FunctionName=f"{name}-{s}") for s in "ab"]
    assert all(c["State"] == "Active" for c in configs)


def test_a_failing_requirement_fails_the_function_with_pips_reason(
    bserver: RunningServer, lam: Any, name: str
) -> None:
    deploy(lam, name, USES_BOTH, MISSING)
    build(bserver)

    config = lam.get_function_configuration(FunctionName=name)
    assert (config["State"], config["StateReasonCode"]) == ("Failed", "DependencyError")
    assert "no-such-package-lambdalite-test" in config["StateReason"]
    assert "No matching distribution found" in config["StateReason"]
    assert config["LastUpdateStatus"] == "Failed"
    with pytest.raises(WaiterError):
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST_WAITER)
    with pytest.raises(ClientError) as refused:
        lam.invoke(FunctionName=name)
    assert error_of(refused)[0] == "ResourceConflictException"
    assert "Failed" in error_of(refused)[1]


def test_an_update_that_fails_to_build_leaves_the_previous_code_serving(
    bserver: RunningServer, lam: Any, name: str
) -> None:
    deploy(lam, name, VERSION_OF_SIX % "v1", "six==1.17.0\n")
    build(bserver)
    before = lam.get_function_configuration(FunctionName=name)

    updated = lam.update_function_code(
        FunctionName=name,
        ZipFile=make_zip({"app.py": VERSION_OF_SIX % "v2", "requirements.txt": MISSING}),
    )
    assert (updated["State"], updated["LastUpdateStatus"]) == ("Active", "InProgress")
    assert updated["CodeSha256"] != before["CodeSha256"]
    # While it builds, the previous code serves, and no other update may start.
    assert invoke(lam, name)["code"] == "v1"
    with pytest.raises(ClientError) as refused:
        lam.update_function_configuration(FunctionName=name, Timeout=10)
    assert error_of(refused)[:2] == (
        "ResourceConflictException",
        "The operation cannot be performed at this time. An update is in progress for "
        f"resource: {before['FunctionArn']}",
    )
    with pytest.raises(ClientError) as refused:
        lam.publish_version(FunctionName=name)
    assert error_of(refused)[0] == "ResourceConflictException"

    build(bserver)

    after = lam.get_function_configuration(FunctionName=name)
    assert (after["State"], after["LastUpdateStatus"]) == ("Active", "Failed")
    assert after["LastUpdateStatusReasonCode"] == "DependencyError"
    assert "no-such-package-lambdalite-test" in after["LastUpdateStatusReason"]
    assert after["CodeSha256"] == before["CodeSha256"]  # the update was aborted
    with pytest.raises(WaiterError):
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST_WAITER)
    assert invoke(lam, name)["code"] == "v1"

    # The next update that works clears the failure.
    lam.update_function_code(
        FunctionName=name,
        ZipFile=make_zip({"app.py": VERSION_OF_SIX % "v3", "requirements.txt": "six\n"}),
    )
    build(bserver)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST_WAITER)
    assert lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "Successful"
    assert invoke(lam, name)["code"] == "v3"


def test_an_update_with_new_requirements_switches_once_built(
    bserver: RunningServer, lam: Any, name: str
) -> None:
    deploy(lam, name, VERSION_OF_SIX % "v1", None)
    assert lam.get_function_configuration(FunctionName=name)["State"] == "Active"
    response = lam.invoke(FunctionName=name)
    assert response["FunctionError"] == "Unhandled"  # no six yet

    lam.update_function_code(
        FunctionName=name,
        ZipFile=make_zip({"app.py": VERSION_OF_SIX % "v2", "requirements.txt": "six\n"}),
    )
    build(bserver)

    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST_WAITER)
    assert invoke(lam, name) == {"six": "1.17.0", "code": "v2"}


def test_pyproject_dependencies_are_installed(bserver: RunningServer, lam: Any, name: str) -> None:
    pyproject = '[project]\nname = "app"\nversion = "1"\ndependencies = ["six==1.17.0"]\n'
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": VERSION_OF_SIX % "p", "pyproject.toml": pyproject})},
    )
    build(bserver)
    assert invoke(lam, name) == {"six": "1.17.0", "code": "p"}


def test_a_published_version_keeps_its_dependencies(
    bserver: RunningServer, lam: Any, name: str
) -> None:
    # A requirement set of its own: no other test has built it already.
    created = deploy(lam, name, VERSION_OF_SIX % "v1", "six>=1.16\n", Publish=True)
    assert (created["Version"], created["State"]) == ("1", "Pending")
    build(bserver)
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["State"] == "Active"
    assert invoke(lam, name, Qualifier="1")["code"] == "v1"


def test_garbage_collection_keeps_what_is_referenced(
    tmp_path: Path, wheels: Path, name: str
) -> None:
    server = builds_server(tmp_path / "data", wheels)
    try:
        lam = server.client()
        deploy(lam, f"{name}-a", USES_BOTH, REQUIREMENTS)
        deploy(lam, f"{name}-b", USES_BOTH, REQUIREMENTS)
        deploy(lam, f"{name}-pending", USES_BOTH, "six\n")  # never built: still kept
        lam.publish_version(FunctionName=f"{name}-a")
        build(server)
        # The one version still naming "six" alone is Pending: its build stays.
        lam.update_function_code(
            FunctionName=f"{name}-pending",
            ZipFile=make_zip({"app.py": USES_BOTH, "requirements.txt": "six==1.17.0\n"}),
        )
        layer = dependency_layers(server)
        assert len(layer) == 2

        assert collect(server).total == 0  # everything is referenced

        lam.delete_function(FunctionName=f"{name}-b")
        assert collect(server).total == 0  # version 1 and $LATEST of -a still use it
        assert invoke(lam, f"{name}-a")["six"] == "1.17.0"

        lam.delete_function(FunctionName=f"{name}-a")
        lam.delete_function(FunctionName=f"{name}-pending")
        collected = collect(server)
        assert collected.builds == 3 and collected.dependency_layers == 2
        assert dependency_layers(server) == set()
    finally:
        server.stop()


def test_a_pending_build_is_resumed_after_a_restart(
    tmp_path: Path, wheels: Path, name: str
) -> None:
    first = builds_server(tmp_path / "data", wheels)
    try:
        deploy(first.client(), name, VERSION_OF_SIX % "r", "six==1.17.0\n")
    finally:
        first.stop()
    second = builds_server(tmp_path / "data", wheels)
    try:
        lam = second.client()
        assert lam.get_function_configuration(FunctionName=name)["State"] == "Pending"
        assert build(second) == 1
        assert invoke(lam, name) == {"six": "1.17.0", "code": "r"}
    finally:
        second.stop()


def test_a_layer_past_its_cap_fails_the_build(tmp_path: Path, wheels: Path, name: str) -> None:
    server = builds_server(tmp_path / "data", wheels, max_layer_bytes=1000)
    try:
        lam = server.client()
        deploy(lam, name, USES_BOTH, REQUIREMENTS)
        build(server)
        config = lam.get_function_configuration(FunctionName=name)
        assert config["State"] == "Failed"
        assert "more than the limit of 1000 bytes" in config["StateReason"]
        assert dependency_layers(server) == set()
    finally:
        server.stop()


def test_a_build_past_its_time_limit_is_stopped_and_fails(
    tmp_path: Path, wheels: Path, name: str
) -> None:
    server = builds_server(tmp_path / "data", wheels, timeout_seconds=0.01)
    try:
        lam = server.client()
        deploy(lam, name, USES_BOTH, REQUIREMENTS)
        build(server)
        config = lam.get_function_configuration(FunctionName=name)
        assert config["State"] == "Failed"
        assert "took longer than its limit of 0.01 seconds" in config["StateReason"]
        assert dependency_layers(server) == set()
    finally:
        server.stop()


def test_cli_deploy_shows_pips_progress_and_the_size(
    tmp_path: Path, wheels: Path, name: str
) -> None:
    # This server builds on its own (a short loop), as `lambdalite serve` does.
    server = builds_server(tmp_path / "data", wheels, interval_seconds=0.05)
    try:
        source = tmp_path / "src"
        source.mkdir()
        (source / "app.py").write_text(USES_BOTH)
        (source / "requirements.txt").write_text(REQUIREMENTS)
        env = cli_env(server.endpoint, tmp_path)

        output = succeeded(run(env, "deploy", source, "--name", name))

        assert "installing its dependencies" in output
        assert "Successfully installed msgpack-1.1.2 six-1.17.0" in output
        assert "dependencies: 2 package(s)," in output
        assert json.loads(succeeded(run(env, "invoke", name)))["six"] == "1.17.0"

        listed = succeeded(run(env, "layers", "ls"))
        assert "msgpack==1.1.2, six==1.17.0" in listed
        assert "1 version(s)" in listed

        (source / "requirements.txt").write_text(MISSING)
        failed = run(env, "deploy", source, "--name", name)
        assert failed.exit_code == 1
        assert "No matching distribution found" in failed.stderr
    finally:
        server.stop()


def test_an_unreadable_requirements_file_is_refused_and_nothing_stored(
    bserver: RunningServer, lam: Any, name: str
) -> None:
    with pytest.raises(ClientError) as refused:
        lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": "", "pyproject.toml": "[project\n"})},
        )
    assert error_of(refused)[0] == "InvalidParameterValueException"
    assert "pyproject.toml is not valid TOML" in error_of(refused)[1]
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=name)


def test_slow_imports_are_pre_imported_by_spares_that_are_already_sandboxes(
    bserver: RunningServer, lam: Any, name: str
) -> None:
    """The layer's code runs in a spare that has joined its cgroup, dropped every
    privilege and installed its seccomp filter: never in a zygote."""
    deploy(lam, name, USES_PROBE, "slowprobe==1.0\n", Environment={"Variables": {"GREETING": "hi"}})
    build(bserver)
    platform = bserver.platform
    assert platform.layers is not None
    account = platform.root.account.account_id
    version = platform.functions.version(account, name, None)
    assert platform.functions.preimport(version, {}) == ("slowprobe",)  # measured: slow

    invoke(lam, name)  # the version's first cold start: its zygote, and a spare armed
    spec = platform.engine.invoker.spec_for(account, name, None)
    pool = platform.engine.pool
    assert on_loop(bserver, pool.backend.armed.wait_ready(spec.key))  # type: ignore[attr-defined]

    async def drop_the_warm_sandbox() -> None:
        await pool.discard(await pool.take(spec))

    on_loop(bserver, drop_the_warm_sandbox())

    second = invoke(lam, name)  # a cold start on the armed spare

    at_import = second["at_import"]
    assert at_import["stream"] == ""  # imported before the cold start gave it its stream
    assert at_import["pid"] == second["pid"] == 2  # in the sandbox itself, its runtime
    assert at_import["uid"] == 993
    assert at_import["CapEff"] == at_import["CapBnd"] == "0000000000000000"
    assert (at_import["NoNewPrivs"], at_import["Seccomp"]) == ("1", "2")
    assert at_import["cgroup"] == second["cgroup"]  # the sandbox's own, joined first
    assert at_import["greeting"] == "hi"  # the function's environment, as at its init
    # Nothing of the platform's is open: no cgroup or namespace fd, no zygote socket but
    # the one its platform talks to it on; stdio is /dev/null.
    assert not [t for t in at_import["fds"] if "cgroup" in t or t.startswith(("net:", "pid:"))]
    assert [t for t in at_import["fds"] if t.startswith("socket:")] != []
    assert len(at_import["fds"]) <= 5  # 0, 1, 2, its socket, and the listing's own
