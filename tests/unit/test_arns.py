"""Function names in every form AWS accepts, for the calling account."""

from __future__ import annotations

import pytest

from lambdalite.control.arns import FunctionRef, parse_function_name, resolve_qualifier
from lambdalite.errors import InvalidParameterValueException, ResourceNotFoundException

ACCOUNT = "123456789012"


def parse(value: str, **kwargs: bool) -> FunctionRef:
    return parse_function_name(value, account_id=ACCOUNT, region="us-east-1", **kwargs)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("my-function", FunctionRef("my-function", None)),
        ("my-function:live", FunctionRef("my-function", "live")),
        ("my-function:$LATEST", FunctionRef("my-function", "$LATEST")),
        (f"{ACCOUNT}:function:my-function", FunctionRef("my-function", None)),
        (f"{ACCOUNT}:function:my-function:7", FunctionRef("my-function", "7")),
        (
            f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:my-function",
            FunctionRef("my-function", None),
        ),
        (f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f_1:3", FunctionRef("f_1", "3")),
    ],
)
def test_accepted_forms(value: str, expected: FunctionRef) -> None:
    assert parse(value) == expected


def test_another_accounts_arn_is_not_found_never_forbidden() -> None:
    with pytest.raises(ResourceNotFoundException) as excinfo:
        parse("arn:aws:lambda:us-east-1:999999999999:function:theirs")
    assert "999999999999:function:theirs" in excinfo.value.message


def test_another_region_is_unreachable() -> None:
    with pytest.raises(InvalidParameterValueException, match="not reachable in this region"):
        parse(f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:f")


@pytest.mark.parametrize(
    "value", ["", "a b", "function:f", f"{ACCOUNT}:f", "x" * 65, "f:bad qualifier"]
)
def test_malformed_names_are_invalid(value: str) -> None:
    with pytest.raises(InvalidParameterValueException):
        parse(value)


def test_qualifier_not_allowed_where_the_operation_takes_none() -> None:
    with pytest.raises(InvalidParameterValueException):
        parse("f:1", allow_qualifier=False)


def test_qualifier_in_name_and_parameter_must_agree() -> None:
    assert resolve_qualifier(FunctionRef("f", "1"), None) == "1"
    assert resolve_qualifier(FunctionRef("f", None), "2") == "2"
    assert resolve_qualifier(FunctionRef("f", "1"), "1") == "1"
    with pytest.raises(InvalidParameterValueException):
        resolve_qualifier(FunctionRef("f", "1"), "2")
