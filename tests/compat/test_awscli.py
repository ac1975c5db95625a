"""The AWS CLI (v1, a real subprocess) against a running server, as a user drives it.

Each CLI call costs about half a second, so setup that is not under test goes through
boto3, and the read-only tests share one function created by the CLI itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, create, make_zip
from tests.support.servers import ROOT_KEY, ROOT_SECRET, RunningServer

AWS = Path(sys.executable).with_name("aws")
# AWS CLI v1 exits 255 when the service answers with an error; v2 exits 254.
SERVICE_ERROR_EXIT = {254, 255}

CODE_V1 = make_zip({"app.py": "def handler(event, context):\n    return 'v1'\n"})
CODE_V2 = make_zip({"app.py": "def handler(event, context):\n    return 'v2'\n"})


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@dataclass(frozen=True)
class AwsCli:
    """`aws lambda ...` against one endpoint, with only the credentials given here."""

    endpoint: str
    home: Path
    key: str = ROOT_KEY
    secret: str = ROOT_SECRET

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(AWS), "lambda", *args, "--endpoint-url", self.endpoint]
        command += ["--region", "us-east-1", "--output", "json"]
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.home),
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_CONFIG_FILE": str(self.home / "no-such-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.home / "no-such-credentials"),
        }
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    def ok(self, *args: str) -> dict[str, Any]:
        result = self.run(*args)
        assert result.returncode == 0, f"aws lambda {' '.join(args)} failed:\n{result.stderr}"
        document: dict[str, Any] = json.loads(result.stdout) if result.stdout.strip() else {}
        return document

    def fails(self, *args: str) -> str:
        """Run a call that must fail with a service error; its stderr."""
        result = self.run(*args)
        assert result.returncode in SERVICE_ERROR_EXIT, (result.returncode, result.stderr)
        assert result.stdout == ""
        return result.stderr


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert AWS.exists(), f"the AWS CLI is a dev dependency; expected it at {AWS}"
    return tmp_path_factory.mktemp("aws-home")


@pytest.fixture(scope="module")
def zips(home: Path) -> dict[str, Path]:
    paths = {"v1": home / "v1.zip", "v2": home / "v2.zip"}
    paths["v1"].write_bytes(CODE_V1)
    paths["v2"].write_bytes(CODE_V2)
    return paths


@pytest.fixture(scope="module")
def aws(server: RunningServer, home: Path) -> AwsCli:
    return AwsCli(server.endpoint, home)


@pytest.fixture(scope="module")
def created(aws: AwsCli, zips: dict[str, Path]) -> dict[str, Any]:
    """A function created with `aws lambda create-function`: the command's output."""
    name = f"cli-{uuid.uuid4().hex[:12]}"
    return aws.ok(
        "create-function",
        "--function-name",
        name,
        "--runtime",
        "python3.11",
        "--role",
        ROLE,
        "--handler",
        "app.handler",
        "--zip-file",
        f"fileb://{zips['v1']}",
    )


@pytest.fixture
def fresh_aws(fresh_server: RunningServer, home: Path) -> Iterator[AwsCli]:
    yield AwsCli(fresh_server.endpoint, home)


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        data: bytes = response.read()
    return data


def download_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


# -- functions ------------------------------------------------------------------------


def test_create_function_uploads_the_zip_file(created: dict[str, Any]) -> None:
    assert created["FunctionName"].startswith("cli-")
    assert created["FunctionArn"].endswith(f":function:{created['FunctionName']}")
    assert created["Runtime"] == "python3.11"
    assert created["Handler"] == "app.handler"
    assert created["Role"] == ROLE
    assert created["Version"] == "$LATEST"
    assert created["CodeSize"] == len(CODE_V1)
    assert created["CodeSha256"] == sha256_b64(CODE_V1)


def test_get_function_returns_its_code_at_a_signed_url(
    aws: AwsCli, created: dict[str, Any]
) -> None:
    got = aws.ok("get-function", "--function-name", created["FunctionName"])
    assert got["Configuration"]["FunctionArn"] == created["FunctionArn"]
    assert got["Configuration"]["CodeSha256"] == created["CodeSha256"]
    location: str = got["Code"]["Location"]
    assert location.startswith(aws.endpoint + "/")
    assert download(location) == CODE_V1

    parts = urlsplit(location)
    query = dict(parse_qsl(parts.query))

    def changed(**values: str) -> str:
        return urlunsplit(parts._replace(query=urlencode({**query, **values})))

    signature = query["signature"]
    forged = signature[:-1] + ("1" if signature[-1] == "0" else "0")
    assert download_status(changed(signature=forged)) == 403
    # Nor may a later expiry under the old signature extend the link's life.
    assert download_status(changed(expires=str(int(query["expires"]) + 3600))) == 403


def test_get_function_configuration(aws: AwsCli, created: dict[str, Any]) -> None:
    config = aws.ok("get-function-configuration", "--function-name", created["FunctionName"])
    assert config["FunctionArn"] == created["FunctionArn"]
    assert config["Handler"] == "app.handler"
    assert config["CodeSha256"] == sha256_b64(CODE_V1)
    assert config["MemorySize"] == 128
    assert config["Timeout"] == 3


def test_list_functions_pages_with_max_items(
    fresh_aws: AwsCli, fresh_server: RunningServer
) -> None:
    lam = fresh_server.client()
    for name in ("page-a", "page-b", "page-c"):
        create(lam, name)

    first = fresh_aws.ok("list-functions", "--max-items", "2", "--page-size", "1")
    assert [f["FunctionName"] for f in first["Functions"]] == ["page-a", "page-b"]
    assert first["NextToken"]

    rest = fresh_aws.ok(
        "list-functions",
        "--max-items",
        "2",
        "--page-size",
        "1",
        "--starting-token",
        first["NextToken"],
    )
    assert [f["FunctionName"] for f in rest["Functions"]] == ["page-c"]
    assert "NextToken" not in rest


def test_update_function_code_replaces_the_code(
    aws: AwsCli, lam: Any, name: str, zips: dict[str, Path]
) -> None:
    create(lam, name, Code={"ZipFile": CODE_V1})

    updated = aws.ok(
        "update-function-code", "--function-name", name, "--zip-file", f"fileb://{zips['v2']}"
    )
    assert updated["Version"] == "$LATEST"
    assert updated["CodeSha256"] == sha256_b64(CODE_V2)
    assert updated["CodeSize"] == len(CODE_V2)
    assert download(lam.get_function(FunctionName=name)["Code"]["Location"]) == CODE_V2


def test_update_function_configuration_sets_env_memory_and_timeout(
    aws: AwsCli, lam: Any, name: str
) -> None:
    create(lam, name)

    updated = aws.ok(
        "update-function-configuration",
        "--function-name",
        name,
        "--environment",
        "Variables={GREETING=hello,LOG_LEVEL=debug}",
        "--memory-size",
        "256",
        "--timeout",
        "10",
    )
    assert updated["Environment"] == {"Variables": {"GREETING": "hello", "LOG_LEVEL": "debug"}}
    assert (updated["MemorySize"], updated["Timeout"]) == (256, 10)

    stored = lam.get_function_configuration(FunctionName=name)
    assert stored["Environment"]["Variables"] == {"GREETING": "hello", "LOG_LEVEL": "debug"}
    assert (stored["MemorySize"], stored["Timeout"]) == (256, 10)
    assert stored["Handler"] == "app.handler"  # untouched settings stay


def test_delete_function(aws: AwsCli, lam: Any, name: str) -> None:
    create(lam, name)

    # Newer CLIs print the HTTP status (204: deleted at once); older ones print nothing.
    assert aws.ok("delete-function", "--function-name", name) in ({}, {"StatusCode": 204})
    with pytest.raises(ClientError) as raised:
        lam.get_function(FunctionName=name)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


# -- versions and aliases ---------------------------------------------------------------


def test_publish_version_and_list_versions(aws: AwsCli, lam: Any, name: str) -> None:
    create(lam, name, Code={"ZipFile": CODE_V1})

    one = aws.ok("publish-version", "--function-name", name, "--description", "first")
    assert one["Version"] == "1"
    assert one["FunctionArn"].endswith(f":function:{name}:1")
    assert one["Description"] == "first"
    lam.update_function_code(FunctionName=name, ZipFile=CODE_V2)
    assert aws.ok("publish-version", "--function-name", name)["Version"] == "2"
    # Nothing changed since version 2: AWS hands back that version rather than a new one.
    assert aws.ok("publish-version", "--function-name", name)["Version"] == "2"

    versions = aws.ok("list-versions-by-function", "--function-name", name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    assert versions[0]["FunctionArn"].endswith(f":function:{name}:$LATEST")
    assert [v["CodeSha256"] for v in versions] == [
        sha256_b64(CODE_V2),
        sha256_b64(CODE_V1),
        sha256_b64(CODE_V2),
    ]


def test_aliases_with_weighted_routing(aws: AwsCli, lam: Any, name: str) -> None:
    create(lam, name, Code={"ZipFile": CODE_V1})
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=CODE_V2)
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="stable", FunctionVersion="1")

    live = aws.ok(
        "create-alias",
        "--function-name",
        name,
        "--name",
        "live",
        "--function-version",
        "1",
        "--routing-config",
        '{"AdditionalVersionWeights": {"2": 0.25}}',
    )
    assert live["AliasArn"].endswith(f":function:{name}:live")
    assert live["FunctionVersion"] == "1"
    assert live["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}

    got = aws.ok("get-alias", "--function-name", name, "--name", "live")
    assert (got["FunctionVersion"], got["RoutingConfig"]) == ("1", live["RoutingConfig"])

    shifted = aws.ok(
        "update-alias",
        "--function-name",
        name,
        "--name",
        "live",
        "--function-version",
        "2",
        "--routing-config",
        '{"AdditionalVersionWeights": {"1": 0.1}}',
    )
    assert shifted["FunctionVersion"] == "2"
    assert shifted["RoutingConfig"] == {"AdditionalVersionWeights": {"1": 0.1}}
    assert shifted["RevisionId"] != live["RevisionId"]

    aliases = aws.ok("list-aliases", "--function-name", name)["Aliases"]
    assert [(a["Name"], a["FunctionVersion"]) for a in aliases] == [("live", "2"), ("stable", "1")]
    assert aliases[0]["RoutingConfig"] == {"AdditionalVersionWeights": {"1": 0.1}}


# -- tags, concurrency, account -----------------------------------------------------------


def test_tag_list_and_untag(aws: AwsCli, created: dict[str, Any]) -> None:
    arn = created["FunctionArn"]
    tagged = aws.run("tag-resource", "--resource", arn, "--tags", "team=core,stage=dev")
    assert (tagged.returncode, tagged.stderr) == (0, "")
    assert aws.ok("list-tags", "--resource", arn)["Tags"] == {"team": "core", "stage": "dev"}

    untagged = aws.run("untag-resource", "--resource", arn, "--tag-keys", "stage")
    assert (untagged.returncode, untagged.stderr) == (0, "")
    assert aws.ok("list-tags", "--resource", arn)["Tags"] == {"team": "core"}


def test_put_and_get_function_concurrency(aws: AwsCli, created: dict[str, Any]) -> None:
    name = created["FunctionName"]
    put = aws.ok(
        "put-function-concurrency", "--function-name", name, "--reserved-concurrent-executions", "7"
    )
    assert put == {"ReservedConcurrentExecutions": 7}
    got = aws.ok("get-function-concurrency", "--function-name", name)
    assert got == {"ReservedConcurrentExecutions": 7}


def test_get_account_settings_counts_the_account(
    fresh_aws: AwsCli, fresh_server: RunningServer
) -> None:
    lam = fresh_server.client()
    create(lam, "counted", Code={"ZipFile": CODE_V1})
    lam.put_function_concurrency(FunctionName="counted", ReservedConcurrentExecutions=10)

    settings = fresh_aws.ok("get-account-settings")
    assert settings["AccountUsage"] == {"FunctionCount": 1, "TotalCodeSize": len(CODE_V1)}
    limit = settings["AccountLimit"]
    assert limit["ConcurrentExecutions"] == 1000
    assert limit["UnreservedConcurrentExecutions"] == 990
    assert limit["CodeSizeZipped"] == 50 * 1024 * 1024
    assert limit["CodeSizeUnzipped"] == 250 * 1024 * 1024


# -- errors -----------------------------------------------------------------------------


def test_get_missing_function_names_its_arn(aws: AwsCli, created: dict[str, Any]) -> None:
    account_id = created["FunctionArn"].split(":")[4]
    stderr = aws.fails("get-function", "--function-name", "no-such-function")
    assert "ResourceNotFoundException" in stderr
    assert f"arn:aws:lambda:us-east-1:{account_id}:function:no-such-function" in stderr


def test_wrong_secret_is_an_invalid_signature(aws: AwsCli) -> None:
    stderr = replace(aws, secret="not-the-secret-" + "x" * 25).fails("list-functions")
    assert "InvalidSignatureException" in stderr
    assert "ListFunctions" in stderr


def test_unsupported_operation_is_named(aws: AwsCli) -> None:
    stderr = aws.fails("list-code-signing-configs")
    assert "UnsupportedOperationException" in stderr
    assert "ListCodeSigningConfigs" in stderr
    assert "<html" not in stderr.lower()
