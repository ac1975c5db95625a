"""PublishVersion, ListVersionsByFunction, aliases with weighted routing, via boto3."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.compat.test_functions import error_of
from tests.conftest import create, make_zip


def test_publish_numbers_versions_and_skips_unchanged(lam: Any, name: str, account: str) -> None:
    create(lam, name)
    first = lam.publish_version(FunctionName=name, Description="first")
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert first["Version"] == "1"
    assert first["FunctionArn"] == f"arn:aws:lambda:us-east-1:{account}:function:{name}:1"
    assert first["Description"] == "first"
    again = lam.publish_version(FunctionName=name)
    assert again["Version"] == "1", "no change since version 1: the same version"
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": "x = 2"}))
    assert lam.publish_version(FunctionName=name)["Version"] == "2"


def test_create_with_publish_makes_version_one(lam: Any, name: str) -> None:
    created = create(lam, name, Publish=True)
    assert created["Version"] == "1"


def test_update_code_with_publish(lam: Any, name: str) -> None:
    create(lam, name)
    updated = lam.update_function_code(
        FunctionName=name, ZipFile=make_zip({"app.py": "y = 1"}), Publish=True
    )
    assert updated["Version"] == "1"


def test_published_versions_are_immutable(lam: Any, name: str) -> None:
    create(lam, name, Timeout=3)
    lam.publish_version(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, Timeout=60)
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["Timeout"] == 3
    assert lam.get_function_configuration(FunctionName=f"{name}:1")["Timeout"] == 3
    assert lam.get_function_configuration(FunctionName=name)["Timeout"] == 60


def test_publish_with_wrong_code_sha_is_refused(lam: Any, name: str) -> None:
    create(lam, name)
    with pytest.raises(ClientError) as excinfo:
        lam.publish_version(FunctionName=name, CodeSha256="AAAA")
    assert error_of(excinfo)[0] == "PreconditionFailedException"
    assert lam.list_versions_by_function(FunctionName=name)["Versions"][-1]["Version"] == "$LATEST"


def test_list_versions_in_order_with_latest_qualified(lam: Any, name: str) -> None:
    create(lam, name)
    for i in range(11):
        lam.update_function_configuration(FunctionName=name, Timeout=i + 1)
        lam.publish_version(FunctionName=name)
    versions = [
        v
        for page in lam.get_paginator("list_versions_by_function").paginate(
            FunctionName=name, PaginationConfig={"PageSize": 4}
        )
        for v in page["Versions"]
    ]
    assert [v["Version"] for v in versions] == ["$LATEST"] + [str(i) for i in range(1, 12)]
    assert versions[0]["FunctionArn"].endswith(f":{name}:$LATEST")


def test_delete_one_version(lam: Any, name: str) -> None:
    create(lam, name, Publish=True)
    lam.delete_function(FunctionName=name, Qualifier="1")
    with pytest.raises(ClientError) as excinfo:
        lam.get_function(FunctionName=name, Qualifier="1")
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"n.py": ""}))
    assert lam.publish_version(FunctionName=name)["Version"] == "2", "numbers are never reused"


def test_alias_lifecycle_and_routing(lam: Any, name: str, account: str) -> None:
    create(lam, name, Publish=True)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"v2.py": ""}), Publish=True)
    alias = lam.create_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion="1",
        Description="production",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )
    assert alias["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert alias["AliasArn"] == f"arn:aws:lambda:us-east-1:{account}:function:{name}:live"
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}
    got = lam.get_alias(FunctionName=name, Name="live")
    assert got["FunctionVersion"] == "1" and got["RevisionId"] == alias["RevisionId"]
    moved = lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2", RoutingConfig={})
    assert moved["FunctionVersion"] == "2" and "RoutingConfig" not in moved
    by_alias = lam.get_function_configuration(FunctionName=name, Qualifier="live")
    assert by_alias["Version"] == "2"
    listed = lam.list_aliases(FunctionName=name)["Aliases"]
    assert [a["Name"] for a in listed] == ["live"]
    assert lam.list_aliases(FunctionName=name, FunctionVersion="1")["Aliases"] == []
    lam.delete_alias(FunctionName=name, Name="live")
    with pytest.raises(ClientError) as excinfo:
        lam.get_alias(FunctionName=name, Name="live")
    code, message, status = error_of(excinfo)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert message.startswith("Cannot find alias arn: ")


def test_duplicate_alias_is_a_conflict(lam: Any, name: str) -> None:
    create(lam, name, Publish=True)
    lam.create_alias(FunctionName=name, Name="a", FunctionVersion="1")
    with pytest.raises(ClientError) as excinfo:
        lam.create_alias(FunctionName=name, Name="a", FunctionVersion="1")
    assert error_of(excinfo)[:1] == ("ResourceConflictException",)


@pytest.mark.parametrize(
    ("version", "weights", "code"),
    [
        ("7", {}, "ResourceNotFoundException"),
        ("1", {"9": 0.5}, "ResourceNotFoundException"),
        ("1", {"1": 0.5}, "InvalidParameterValueException"),
        ("$LATEST", {"1": 0.5}, "InvalidParameterValueException"),
    ],
)
def test_bad_alias_targets_are_refused(
    lam: Any, name: str, version: str, weights: dict[str, float], code: str
) -> None:
    create(lam, name, Publish=True)
    with pytest.raises(ClientError) as excinfo:
        lam.create_alias(
            FunctionName=name,
            Name="x",
            FunctionVersion=version,
            RoutingConfig={"AdditionalVersionWeights": weights},
        )
    assert error_of(excinfo)[0] == code
    assert lam.list_aliases(FunctionName=name)["Aliases"] == []


def test_version_used_by_alias_cannot_be_deleted(lam: Any, name: str) -> None:
    create(lam, name, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as excinfo:
        lam.delete_function(FunctionName=name, Qualifier="1")
    code, message, _ = error_of(excinfo)
    assert code == "ResourceConflictException" and "live" in message
    assert lam.get_function(FunctionName=name, Qualifier="1")["Configuration"]["Version"] == "1"


def test_stale_alias_revision_is_refused(lam: Any, name: str) -> None:
    create(lam, name, Publish=True)
    alias = lam.create_alias(FunctionName=name, Name="a", FunctionVersion="1")
    lam.update_alias(FunctionName=name, Name="a", Description="changed")
    with pytest.raises(ClientError) as excinfo:
        lam.update_alias(
            FunctionName=name, Name="a", Description="late", RevisionId=alias["RevisionId"]
        )
    assert error_of(excinfo)[0] == "PreconditionFailedException"
    assert lam.get_alias(FunctionName=name, Name="a")["Description"] == "changed"
