"""Tags, reserved concurrency and account settings, via boto3."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.compat.test_functions import error_of
from tests.conftest import create


def test_tags_round_trip(lam: Any, name: str) -> None:
    arn = create(lam, name, Tags={"team": "imaging"})["FunctionArn"]
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "imaging"}
    lam.tag_resource(Resource=arn, Tags={"cost": "42", "team": "media"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "media", "cost": "42"}
    assert lam.get_function(FunctionName=name)["Tags"] == {"team": "media", "cost": "42"}
    lam.untag_resource(Resource=arn, TagKeys=["team"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"cost": "42"}


def test_tags_of_unknown_function_are_not_found(lam: Any, name: str, account: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        lam.list_tags(Resource=f"arn:aws:lambda:us-east-1:{account}:function:{name}")
    assert error_of(excinfo)[0] == "ResourceNotFoundException"


def test_reserved_concurrency(lam: Any, name: str) -> None:
    create(lam, name)
    assert (
        lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") is None
    )
    put = lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)
    assert put["ReservedConcurrentExecutions"] == 5
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 5
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 5}
    lam.delete_function_concurrency(FunctionName=name)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)


def test_reservation_cannot_eat_the_unreserved_minimum(fresh_server: Any, name: str) -> None:
    lam = fresh_server.client()
    create(lam, name)
    with pytest.raises(ClientError) as excinfo:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=901)
    code, message, _ = error_of(excinfo)
    assert code == "InvalidParameterValueException" and "[100]" in message
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=900)
    limit = lam.get_account_settings()["AccountLimit"]
    assert limit["UnreservedConcurrentExecutions"] == 100


def test_account_settings_count_functions_and_code(fresh_server: Any, name: str) -> None:
    lam = fresh_server.client()
    created = create(lam, name, Publish=True)
    settings = lam.get_account_settings()
    assert settings["AccountUsage"]["FunctionCount"] == 1
    assert settings["AccountUsage"]["TotalCodeSize"] == 2 * created["CodeSize"]
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert settings["AccountLimit"]["CodeSizeZipped"] == 50 * 1024 * 1024
