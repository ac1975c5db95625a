"""CreateFunction, GetFunction(Configuration), ListFunctions, Update*, DeleteFunction via boto3.

Every response is also checked against botocore's output shape by the client fixture.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, create, make_zip


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def test_create_returns_the_configuration_as_aws_does(lam: Any, name: str, account: str) -> None:
    code = make_zip()
    created = create(
        lam,
        name,
        Code={"ZipFile": code},
        MemorySize=256,
        Timeout=30,
        Description="resizes images",
        Environment={"Variables": {"STAGE": "test"}},
        EphemeralStorage={"Size": 1024},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:{account}:function:{name}"
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(code).digest()).decode()
    assert created["CodeSize"] == len(code)
    assert created["Version"] == "$LATEST"
    assert (created["MemorySize"], created["Timeout"]) == (256, 30)
    assert created["Environment"] == {"Variables": {"STAGE": "test"}}
    assert created["EphemeralStorage"] == {"Size": 1024}
    assert created["State"] == "Active"
    assert created["LoggingConfig"]["LogGroup"] == f"/aws/lambda/{name}"


def test_defaults_are_aws_defaults(lam: Any, name: str) -> None:
    created = create(lam, name)
    assert (created["MemorySize"], created["Timeout"]) == (128, 3)
    assert created["EphemeralStorage"] == {"Size": 512}
    assert created["Architectures"] == ["x86_64"]
    assert "Environment" not in created


def test_get_function_by_name_partial_arn_and_full_arn(lam: Any, name: str, account: str) -> None:
    created = create(lam, name)
    for form in (name, f"{account}:function:{name}", created["FunctionArn"]):
        got = lam.get_function(FunctionName=form)
        assert got["Configuration"]["FunctionName"] == name
        assert got["Code"]["RepositoryType"] == "S3"


def test_duplicate_name_is_a_conflict(lam: Any, name: str) -> None:
    create(lam, name)
    with pytest.raises(ClientError) as excinfo:
        create(lam, name)
    code, message, status = error_of(excinfo)
    assert (code, status) == ("ResourceConflictException", 409)
    assert name in message


def test_unknown_function_is_not_found_naming_the_arn(lam: Any, name: str, account: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        lam.get_function_configuration(FunctionName=name)
    code, message, status = error_of(excinfo)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert message == (f"Function not found: arn:aws:lambda:us-east-1:{account}:function:{name}")


def test_list_functions_paginates_with_marker(lam: Any, server: Any) -> None:
    client = server.client()
    prefix = "page-" + hashlib.sha1(str(id(lam)).encode()).hexdigest()[:6]
    names = [f"{prefix}-{i:02d}" for i in range(7)]
    for n in names:
        create(client, n)
    first = client.list_functions(MaxItems=3)
    assert len(first["Functions"]) == 3 and "NextMarker" in first
    seen = [
        f["FunctionName"]
        for page in client.get_paginator("list_functions").paginate(
            PaginationConfig={"PageSize": 2}
        )
        for f in page["Functions"]
    ]
    assert [n for n in seen if n.startswith(prefix)] == names
    assert len(seen) == len(set(seen))


def test_update_configuration_changes_only_what_is_given(lam: Any, name: str) -> None:
    created = create(lam, name, Environment={"Variables": {"AB": "1"}}, Timeout=10)
    updated = lam.update_function_configuration(FunctionName=name, MemorySize=512)
    assert updated["MemorySize"] == 512
    assert updated["Timeout"] == 10
    assert updated["Environment"] == {"Variables": {"AB": "1"}}
    assert updated["RevisionId"] != created["RevisionId"]
    cleared = lam.update_function_configuration(FunctionName=name, Environment={"Variables": {}})
    assert "Environment" not in cleared


def test_stale_revision_id_is_a_failed_precondition(lam: Any, name: str) -> None:
    created = create(lam, name)
    lam.update_function_configuration(FunctionName=name, Timeout=5)
    with pytest.raises(ClientError) as excinfo:
        lam.update_function_configuration(
            FunctionName=name, Timeout=9, RevisionId=created["RevisionId"]
        )
    code, message, status = error_of(excinfo)
    assert (code, status) == ("PreconditionFailedException", 412)
    assert "Revision Id" in message
    assert lam.get_function_configuration(FunctionName=name)["Timeout"] == 5


def test_update_code_replaces_the_code(lam: Any, name: str, server: Any) -> None:
    create(lam, name)
    new_code = make_zip({"app.py": "def handler(e, c):\n    return 2\n"})
    updated = lam.update_function_code(FunctionName=name, ZipFile=new_code)
    assert updated["CodeSha256"] == base64.b64encode(hashlib.sha256(new_code).digest()).decode()
    assert updated["CodeSize"] == len(new_code)


def test_update_code_dry_run_changes_nothing(lam: Any, name: str) -> None:
    created = create(lam, name)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"x.py": "x=1"}), DryRun=True)
    assert lam.get_function_configuration(FunctionName=name)["CodeSha256"] == created["CodeSha256"]


def test_delete_function_removes_it(lam: Any, name: str) -> None:
    create(lam, name)
    response = lam.delete_function(FunctionName=name)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as excinfo:
        lam.get_function(FunctionName=name)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"


def test_deleting_latest_alone_is_refused(lam: Any, name: str) -> None:
    create(lam, name)
    with pytest.raises(ClientError) as excinfo:
        lam.delete_function(FunctionName=name, Qualifier="$LATEST")
    assert error_of(excinfo)[:2] == (
        "InvalidParameterValueException",
        "$LATEST version cannot be deleted without deleting the function.",
    )


@pytest.mark.parametrize(
    ("change", "member", "fragment"),
    [
        ({"MemorySize": 64}, "memorySize", "greater than or equal to 128"),
        ({"MemorySize": 10241}, "memorySize", "less than or equal to 10240"),
        ({"Timeout": 0}, "timeout", "greater than or equal to 1"),
        ({"Timeout": 901}, "timeout", "less than or equal to 900"),
        ({"EphemeralStorage": {"Size": 511}}, "ephemeralStorage.size", "greater than or equal"),
        ({"Runtime": "cobol"}, "runtime", "enum value set"),
        ({"FunctionName": "bad name!"}, "functionName", "regular expression pattern"),
        ({"Role": "not-a-role"}, "role", "regular expression pattern"),
    ],
)
def test_out_of_range_configuration_is_a_validation_error(
    server: Any, name: str, change: dict[str, Any], member: str, fragment: str
) -> None:
    lam = server.client(validate=False)
    with pytest.raises(ClientError) as excinfo:
        create(lam, name, **change)
    code, message, status = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert f"at '{member}'" in message and fragment in message
    assert_absent(lam, name)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"Runtime": "python2.7"}, "no longer supported"),
        ({"Runtime": "nodejs20.x"}, "not supported by lambdalite"),
        ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, "reserved keys"),
        ({"Environment": {"Variables": {"BIG": "x" * 5000}}}, "exceeded the 4KB limit"),
        ({"Code": {"S3Bucket": "bucket", "S3Key": "key.zip"}}, "ZipFile only"),
    ],
)
def test_unsupported_configuration_is_refused_clearly(
    lam: Any, name: str, change: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ClientError) as excinfo:
        create(lam, name, **change)
    code, message, _ = error_of(excinfo)
    assert code == "InvalidParameterValueException"
    assert fragment in message
    assert_absent(lam, name)


def test_python_runtimes_and_custom_runtimes_are_accepted(lam: Any, name: str) -> None:
    for i, runtime in enumerate(["python3.9", "python3.13", "provided.al2023"]):
        created = create(lam, f"{name}-{i}", Runtime=runtime, Role=ROLE)
        assert created["Runtime"] == runtime


def assert_absent(lam: Any, name: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        lam.get_function(FunctionName=name)
    assert error_of(excinfo)[0] in ("ResourceNotFoundException", "ValidationException")
