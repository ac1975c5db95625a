"""The `lambdalite` command (deploy, ls, rm, accounts) against a running server.

The CLI runs in-process under click's CliRunner; what it did is checked through boto3,
the way a user would check it with the AWS tools.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import urllib.request
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from lambdalite.cli.main import main
from lambdalite.sandbox.network import sandbox_links
from tests.conftest import create
from tests.support.cli import Env, cli_env, one_line_error, run, succeeded
from tests.support.servers import RunningServer, free_port


@pytest.fixture
def env(server: RunningServer, tmp_path: Path) -> Env:
    return cli_env(server.endpoint, tmp_path)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A function's directory, with a bytecode cache that must not be deployed."""
    root = tmp_path / "src"
    (root / "lib").mkdir(parents=True)
    (root / "__pycache__").mkdir()
    (root / "app.py").write_text("def handler(event, context):\n    return 'v1'\n")
    (root / "lib" / "helper.py").write_text("GREETING = 'hello'\n")
    (root / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\x00stale bytecode")
    return root


def code_files(lam: Any, name: str) -> dict[str, bytes]:
    """The deployed package's files, fetched from GetFunction's Code.Location."""
    location = lam.get_function(FunctionName=name)["Code"]["Location"]
    with urllib.request.urlopen(location, timeout=10) as response:
        data = response.read()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {entry: archive.read(entry) for entry in archive.namelist()}


def error_code(call: Any, **params: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**params)
    code: str = raised.value.response["Error"]["Code"]
    return code


def access_key(output: str) -> tuple[str, str]:
    key = re.search(r"aws_access_key_id = (\S+)", output)
    secret = re.search(r"aws_secret_access_key = (\S+)", output)
    assert key and secret, output
    return key[1], secret[1]


# -- deploy -----------------------------------------------------------------------------


def test_deploy_creates_the_function(env: Env, lam: Any, name: str, source: Path) -> None:
    output = succeeded(run(env, "deploy", source, "--name", name))

    config = lam.get_function_configuration(FunctionName=name)
    assert output.startswith(f"created {config['FunctionArn']} ")
    assert config["CodeSha256"] in output
    assert (config["Handler"], config["Runtime"]) == ("app.handler", "python3.11")
    files = code_files(lam, name)
    assert sorted(files) == ["app.py", "lib/helper.py"]
    assert files["app.py"] == (source / "app.py").read_bytes()


def test_deploy_again_updates_the_code(env: Env, lam: Any, name: str, source: Path) -> None:
    succeeded(run(env, "deploy", source, "--name", name))
    first = lam.get_function_configuration(FunctionName=name)
    (source / "app.py").write_text("def handler(event, context):\n    return 'v2'\n")

    output = succeeded(run(env, "deploy", source, "--name", name))

    second = lam.get_function_configuration(FunctionName=name)
    assert output.startswith(f"updated {second['FunctionArn']} ")
    assert second["CodeSha256"] != first["CodeSha256"]
    assert code_files(lam, name)["app.py"] == (source / "app.py").read_bytes()


def test_deploying_an_unchanged_directory_publishes_the_same_version(
    env: Env, lam: Any, name: str, source: Path
) -> None:
    first = succeeded(run(env, "deploy", source, "--name", name, "--publish"))
    # Touching files changes nothing a function sees: the package must not change either.
    for path in source.rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))
    second = succeeded(run(env, "deploy", source, "--name", name, "--publish"))

    assert "version 1 " in first
    assert "version 1 " in second
    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]


def test_deploy_applies_environment_memory_and_timeout(
    env: Env, lam: Any, name: str, source: Path
) -> None:
    env_options = ["--env", "GREETING=hello", "--env", "DSN=postgres://db/app?x=1"]
    sizes = ["--memory", "256", "--timeout", "10"]
    succeeded(run(env, "deploy", source, "--name", name, *env_options, *sizes))

    config = lam.get_function_configuration(FunctionName=name)
    variables = {"GREETING": "hello", "DSN": "postgres://db/app?x=1"}
    assert config["Environment"]["Variables"] == variables
    assert (config["MemorySize"], config["Timeout"]) == (256, 10)

    # A redeploy changes only what it names.
    succeeded(run(env, "deploy", source, "--name", name, "--timeout", "20"))
    config = lam.get_function_configuration(FunctionName=name)
    assert config["Environment"]["Variables"] == variables
    assert (config["MemorySize"], config["Timeout"]) == (256, 20)


# -- ls, rm ---------------------------------------------------------------------------


def test_ls_shows_the_function(env: Env, lam: Any, name: str) -> None:
    create(lam, name, MemorySize=256)

    result = run(env, "ls")

    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if name in line]
    assert len(rows) == 1, f"{name} not listed in full:\n{result.stdout}"
    for cell in ("python3.11", "app.handler", "256 MB", "3 s"):
        assert cell in rows[0]


def test_rm_deletes_the_function(env: Env, lam: Any, name: str) -> None:
    create(lam, name)

    assert succeeded(run(env, "rm", name)) == f"deleted {name}"
    assert error_code(lam.get_function, FunctionName=name) == "ResourceNotFoundException"


# -- accounts -----------------------------------------------------------------------------


def test_accounts_create_prints_a_key_to_a_separate_account(
    env: Env, server: RunningServer, lam: Any, name: str
) -> None:
    root_arn = create(lam, name)["FunctionArn"]
    account = f"team-{uuid.uuid4().hex[:8]}"

    output = succeeded(run(env, "accounts", "create", account))

    assert output.startswith(f"account {account} (")
    key, secret = access_key(output)
    other = server.client(key=key, secret=secret)
    assert other.list_functions()["Functions"] == []
    assert error_code(other.get_function, FunctionName=root_arn) == "ResourceNotFoundException"
    assert error_code(other.get_function, FunctionName=name) == "ResourceNotFoundException"


def test_accounts_create_needs_the_root_account(env: Env) -> None:
    output = succeeded(run(env, "accounts", "create", f"team-{uuid.uuid4().hex[:8]}"))
    key, secret = access_key(output)
    as_other = {**env, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}

    line = one_line_error(run(as_other, "accounts", "create", f"team-{uuid.uuid4().hex[:8]}"))

    assert line.startswith("error: AccessDeniedException: ")


def test_accounts_create_refuses_a_taken_name(env: Env) -> None:
    account = f"team-{uuid.uuid4().hex[:8]}"
    succeeded(run(env, "accounts", "create", account))

    line = one_line_error(run(env, "accounts", "create", account))

    assert line.startswith("error: ResourceConflictException: ")
    assert account in line


# -- credentials ----------------------------------------------------------------------


def test_without_aws_variables_the_data_dir_credentials_are_used(
    env: Env, fresh_server: RunningServer, source: Path
) -> None:
    assert (fresh_server.data_dir / "credentials").exists()
    local: Env = {
        **env,
        "LAMBDALITE_ENDPOINT": fresh_server.endpoint,
        "LAMBDALITE_DATA_DIR": str(fresh_server.data_dir),
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
    }

    assert succeeded(run(local, "ls")) == "no functions"
    succeeded(run(local, "deploy", source, "--name", "from-file"))

    config = fresh_server.client().get_function_configuration(FunctionName="from-file")
    root = fresh_server.platform.root.account.account_id
    assert config["FunctionArn"] == f"arn:aws:lambda:us-east-1:{root}:function:from-file"


# -- errors ---------------------------------------------------------------------------


def test_rm_of_a_missing_function_is_one_line(env: Env, server: RunningServer) -> None:
    root = server.platform.root.account.account_id
    arn = f"arn:aws:lambda:us-east-1:{root}:function:no-such-function"

    line = one_line_error(run(env, "rm", "no-such-function"))

    assert line == f"error: ResourceNotFoundException: Function not found: {arn}"


@pytest.mark.parametrize(
    "command",
    [
        ["ls"],
        ["rm", "some-function"],
        ["deploy", "{source}", "--name", "x"],
        ["accounts", "create", "x"],
    ],
    ids=["ls", "rm", "deploy", "accounts-create"],
)
def test_an_unreachable_server_is_named(env: Env, source: Path, command: list[str]) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # bound then released: nothing listens
    args = [str(source) if arg == "{source}" else arg for arg in command]

    line = one_line_error(run({**env, "LAMBDALITE_ENDPOINT": endpoint}, *args))

    assert line.startswith(f"error: cannot reach lambdalite at {endpoint}")


def test_missing_credentials_are_explained(env: Env, tmp_path: Path) -> None:
    no_credentials = {**env, "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}
    no_credentials["HOME"] = str(tmp_path)

    line = one_line_error(run(no_credentials, "ls"))

    assert "credentials" in line


def test_invalid_options_are_reported(env: Env, source: Path, name: str) -> None:
    line = one_line_error(run(env, "deploy", source, "--name", name, "--env", "NO_EQUALS"))
    assert line == "error: --env expects KEY=VALUE, got 'NO_EQUALS'"

    line = one_line_error(run(env, "deploy", source, "--name", name, "--memory", "64"))
    assert "MemorySize" in line
    assert "128" in line


def test_invoke_prints_the_result_and_the_log_tail(server: Any, env: Any, tmp_path: Any) -> None:
    source = tmp_path / "echo"
    source.mkdir()
    (source / "app.py").write_text(
        "def handler(event, context):\n"
        "    print('seen', event['n'])\n"
        "    return {'double': event['n'] * 2}\n"
    )
    name = f"cli-invoke-{uuid.uuid4().hex[:8]}"
    runner = CliRunner()
    assert runner.invoke(main, ["deploy", str(source), "--name", name], env=env).exit_code == 0
    result = runner.invoke(main, ["invoke", name, "--payload", '{"n": 21}', "--tail"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"double": 42}
    assert "seen 21" in result.stderr and "REPORT RequestId:" in result.stderr


def test_invoke_of_a_failing_function_exits_1(server: Any, env: Any, tmp_path: Any) -> None:
    source = tmp_path / "boom"
    source.mkdir()
    (source / "app.py").write_text("def handler(event, context):\n    raise KeyError('k')\n")
    name = f"cli-boom-{uuid.uuid4().hex[:8]}"
    runner = CliRunner()
    assert runner.invoke(main, ["deploy", str(source), "--name", name], env=env).exit_code == 0
    result = runner.invoke(main, ["invoke", name], env=env)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["errorType"] == "KeyError"
    assert "the function failed (Unhandled)" in result.stderr


def test_unfirewall_refuses_while_sandboxes_rely_on_the_firewall(
    env: Env, server: RunningServer, lam: Any, name: str
) -> None:
    if server.platform.engine.network_warning:
        pytest.skip(server.platform.engine.network_warning)
    create(lam, name)
    lam.invoke(FunctionName=name)  # a warm sandbox with its veth on the host now
    assert sandbox_links()
    error = one_line_error(run(env, "unfirewall"))
    assert "sandboxes are still running" in error
    assert firewall_present()  # untouched


def firewall_present() -> bool:
    nft = subprocess.run(["nft", "list", "table", "inet", "lambdalite"], capture_output=True)
    return nft.returncode == 0
