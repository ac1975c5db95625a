"""The Layers API through boto3: PublishLayerVersion, Get/List/Delete, permissions, and
`Layers` on functions — merged under /opt in order (later layers win), read-only, with
AWS's errors for unknown, other accounts' and too many layers.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import urllib.request
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdalite.layers.collector import Collected
from lambdalite.settings import BuildSettings
from tests.compat.test_functions import error_of
from tests.conftest import create, make_zip
from tests.support.cli import cli_env, run, succeeded
from tests.support.servers import RunningServer, start_server

READ_OPT = """
import json, os

def handler(event, context):
    import common
    found = {}
    for root, _dirs, files in os.walk("/opt"):
        for name in files:
            found[os.path.join(root, name)] = open(os.path.join(root, name)).read()
    return {"common": common.WHO, "files": found}
"""


@pytest.fixture
def layer_name() -> str:
    return f"layer-{uuid.uuid4().hex[:10]}"


def publish(lam: Any, layer_name: str, files: dict[str, str | bytes], **extra: Any) -> Any:
    return lam.publish_layer_version(
        LayerName=layer_name, Content={"ZipFile": make_zip(files)}, **extra
    )


def other_account(server: RunningServer) -> tuple[str, Any]:
    """A second account (a tenant of its own) and a Lambda client signed by its key."""
    account, key = server.platform.accounts.create(f"acct-{uuid.uuid4().hex[:8]}")
    return account.account_id, server.client(key=key.access_key_id, secret=key.secret_access_key)


def test_publish_get_list_and_delete_a_layer_version(
    lam: Any, layer_name: str, account: str
) -> None:
    content = make_zip({"python/common.py": "WHO = 'one'\n"})
    first = lam.publish_layer_version(
        LayerName=layer_name,
        Content={"ZipFile": content},
        Description="shared helpers",
        CompatibleRuntimes=["python3.11", "python3.12"],
        CompatibleArchitectures=["x86_64"],
        LicenseInfo="MIT",
    )
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201
    arn = f"arn:aws:lambda:us-east-1:{account}:layer:{layer_name}"
    assert (first["LayerArn"], first["LayerVersionArn"], first["Version"]) == (
        arn,
        f"{arn}:1",
        1,
    )
    assert (
        first["Content"]["CodeSha256"]
        == base64.b64encode(hashlib.sha256(content).digest()).decode()
    )
    assert first["Content"]["CodeSize"] == len(content)
    with urllib.request.urlopen(first["Content"]["Location"]) as download:
        assert download.read() == content

    second = publish(lam, layer_name, {"python/common.py": "WHO = 'two'\n"})
    assert second["Version"] == 2
    got = lam.get_layer_version(LayerName=layer_name, VersionNumber=1)
    assert (got["Description"], got["LicenseInfo"]) == ("shared helpers", "MIT")
    assert lam.get_layer_version_by_arn(Arn=f"{arn}:2")["Version"] == 2
    versions = lam.list_layer_versions(LayerName=layer_name)["LayerVersions"]
    assert [v["Version"] for v in versions] == [2, 1]
    newest = {
        layer["LayerName"]: layer["LatestMatchingVersion"]["Version"]
        for layer in lam.list_layers()["Layers"]
    }
    assert newest[layer_name] == 2
    matching = lam.list_layers(CompatibleRuntime="python3.12")["Layers"]
    assert [
        layer["LatestMatchingVersion"]["Version"]
        for layer in matching
        if layer["LayerName"] == layer_name
    ] == [1]

    lam.delete_layer_version(LayerName=layer_name, VersionNumber=2)
    lam.delete_layer_version(LayerName=layer_name, VersionNumber=2)  # no error, as on AWS
    with pytest.raises(ClientError) as missing:
        lam.get_layer_version(LayerName=layer_name, VersionNumber=2)
    assert error_of(missing)[0] == "ResourceNotFoundException"
    # A deleted version's number is never used again.
    assert publish(lam, layer_name, {"python/x.py": ""})["Version"] == 3


@pytest.mark.sandbox
def test_layers_merge_under_opt_in_order_later_ones_win(
    lam: Any, layer_name: str, name: str
) -> None:
    first = publish(
        lam,
        f"{layer_name}-a",
        {"python/common.py": "WHO = 'a'\n", "data/a.txt": "from a", "data/both.txt": "a"},
    )
    second = publish(
        lam,
        f"{layer_name}-b",
        {"python/common.py": "WHO = 'b'\n", "data/b.txt": "from b", "data/both.txt": "b"},
    )
    layers = [first["LayerVersionArn"], second["LayerVersionArn"]]
    created = create(lam, name, Code={"ZipFile": make_zip({"app.py": READ_OPT})}, Layers=layers)
    assert created["Layers"] == [
        {"Arn": first["LayerVersionArn"], "CodeSize": first["Content"]["CodeSize"]},
        {"Arn": second["LayerVersionArn"], "CodeSize": second["Content"]["CodeSize"]},
    ]

    result = json.loads(lam.invoke(FunctionName=name)["Payload"].read())
    assert result["common"] == "b"
    assert result["files"]["/opt/data/a.txt"] == "from a"
    assert result["files"]["/opt/data/b.txt"] == "from b"
    assert result["files"]["/opt/data/both.txt"] == "b"

    lam.update_function_configuration(FunctionName=name, Layers=list(reversed(layers)))
    result = json.loads(lam.invoke(FunctionName=name)["Payload"].read())
    assert (result["common"], result["files"]["/opt/data/both.txt"]) == ("a", "a")

    lam.update_function_configuration(FunctionName=name, Layers=[])
    assert "Layers" not in lam.get_function_configuration(FunctionName=name)


def test_unknown_too_many_and_duplicate_layers_are_refused(
    lam: Any, layer_name: str, name: str, account: str
) -> None:
    missing = f"arn:aws:lambda:us-east-1:{account}:layer:{layer_name}:7"
    with pytest.raises(ClientError) as refused:
        create(lam, name, Layers=[missing])
    assert error_of(refused) == (
        "InvalidParameterValueException",
        f"Layer version {missing} does not exist.",
        400,
    )
    arns = [publish(lam, f"{layer_name}-{i}", {"f": str(i)})["LayerVersionArn"] for i in range(6)]
    with pytest.raises(ClientError) as refused:
        create(lam, name, Layers=arns)
    assert error_of(refused)[:2] == (
        "InvalidParameterValueException",
        "Cannot reference more than 5 layers.",
    )
    again = publish(lam, f"{layer_name}-0", {"f": "again"})["LayerVersionArn"]
    with pytest.raises(ClientError) as refused:
        create(lam, name, Layers=[arns[0], again])
    assert error_of(refused)[0] == "InvalidParameterValueException"
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=name)  # nothing was created


def test_another_accounts_layer_needs_its_permission(
    server: RunningServer, lam: Any, layer_name: str, name: str
) -> None:
    owner_id, owner = other_account(server)
    arn = publish(owner, layer_name, {"python/common.py": "WHO = 'theirs'\n"})["LayerVersionArn"]

    with pytest.raises(ClientError) as refused:
        create(lam, name, Layers=[arn])
    code, message, status = error_of(refused)
    assert (code, status) == ("AccessDeniedException", 403)
    assert f"lambda:GetLayerVersion on resource: {arn}" in message
    # Whether another account's layer exists is not told: a missing one reads the same.
    with pytest.raises(ClientError) as refused:
        create(lam, name, Layers=[arn[: -len(":1")] + ":9"])
    assert error_of(refused)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as refused:
        lam.get_layer_version_by_arn(Arn=arn)
    assert error_of(refused)[0] == "AccessDeniedException"

    granted = owner.add_layer_version_permission(
        LayerName=layer_name,
        VersionNumber=1,
        StatementId="share",
        Action="lambda:GetLayerVersion",
        Principal=server.platform.root.account.account_id,
    )
    assert json.loads(granted["Statement"])["Action"] == "lambda:GetLayerVersion"
    policy = json.loads(
        owner.get_layer_version_policy(LayerName=layer_name, VersionNumber=1)["Policy"]
    )
    assert [s["Sid"] for s in policy["Statement"]] == ["share"]
    created = create(lam, name, Layers=[arn])
    assert created["Layers"][0]["Arn"] == arn
    assert lam.get_layer_version_by_arn(Arn=arn)["LayerVersionArn"] == arn

    owner.remove_layer_version_permission(
        LayerName=layer_name, VersionNumber=1, StatementId="share"
    )
    with pytest.raises(ClientError) as refused:
        lam.get_layer_version_by_arn(Arn=arn)
    assert error_of(refused)[0] == "AccessDeniedException"
    assert owner_id != server.platform.root.account.account_id


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({"../escape.py": "x"}, "'..'"),
        ({"/etc/passwd": "x"}, "absolute path"),
    ],
)
def test_a_layer_zip_is_checked_like_code(
    server: RunningServer, lam: Any, layer_name: str, files: dict[str, str], fragment: str
) -> None:
    content_dir = server.data_dir / "layers" / "content"
    before = sorted(content_dir.rglob("*")) if content_dir.exists() else []
    with pytest.raises(ClientError) as refused:
        publish(lam, layer_name, files)
    assert error_of(refused)[0] == "InvalidParameterValueException"
    assert fragment in error_of(refused)[1]
    after = sorted(content_dir.rglob("*")) if content_dir.exists() else []
    assert after == before
    assert lam.list_layer_versions(LayerName=layer_name)["LayerVersions"] == []


def test_a_layer_bomb_is_refused(lam: Any, layer_name: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("python/bomb.bin", b"\0" * (20 * 1024 * 1024))
    with pytest.raises(ClientError) as refused:
        lam.publish_layer_version(LayerName=layer_name, Content={"ZipFile": buffer.getvalue()})
    assert error_of(refused)[0] == "InvalidParameterValueException"
    assert "zip bomb" in error_of(refused)[1]


@pytest.mark.sandbox
def test_a_deleted_layer_version_keeps_serving_the_functions_using_it(
    tmp_path: Path, layer_name: str, name: str
) -> None:
    builds = BuildSettings(interval_seconds=0, gc_interval_seconds=0, gc_grace_seconds=0)
    server = start_server(tmp_path / "data", builds=builds)
    try:
        lam = server.client()
        arn = publish(lam, layer_name, {"python/common.py": "WHO = 'kept'\n"})["LayerVersionArn"]
        create(lam, name, Code={"ZipFile": make_zip({"app.py": READ_OPT})}, Layers=[arn])
        lam.delete_layer_version(LayerName=layer_name, VersionNumber=1)

        assert collect(server).layer_contents == 0
        assert json.loads(lam.invoke(FunctionName=name)["Payload"].read())["common"] == "kept"
        assert lam.get_function_configuration(FunctionName=name)["Layers"][0]["Arn"] == arn

        lam.delete_function(FunctionName=name)
        assert collect(server).layer_contents == 1  # now nothing uses it
        assert list((server.data_dir / "layers" / "content" / "blobs").rglob("*.zip")) == []
    finally:
        server.stop()


def collect(server: RunningServer) -> Collected:
    layers = server.platform.layers
    loop = server.platform.engine._loop
    assert layers is not None and loop is not None
    collected: Collected = asyncio.run_coroutine_threadsafe(
        layers.collector.run_once(), loop
    ).result(timeout=60)
    return collected


def test_cli_publishes_a_layer_and_lists_who_uses_it(
    server: RunningServer, lam: Any, layer_name: str, name: str, tmp_path: Path
) -> None:
    source = tmp_path / "layer"
    (source / "python").mkdir(parents=True)
    (source / "python" / "common.py").write_text("WHO = 'cli'\n")
    env = cli_env(server.endpoint, tmp_path)

    published = succeeded(
        run(env, "layers", "publish", layer_name, source, "--runtime", "python3.11")
    )

    arn = published.split()[0]
    assert arn.endswith(f":layer:{layer_name}:1")
    assert lam.get_layer_version_by_arn(Arn=arn)["CompatibleRuntimes"] == ["python3.11"]
    create(lam, name, Layers=[arn])
    listed = run(env, "layers", "ls")
    succeeded(listed)
    (row,) = [line for line in listed.stdout.splitlines() if arn in line]
    assert "published" in row and "1 version(s)" in row
