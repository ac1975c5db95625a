"""Routing and input parsing driven by botocore's model, for every Lambda operation."""

from __future__ import annotations

import re

import pytest

from lambdalite.api.operations import OperationTable, parse_input
from lambdalite.api.validation import validate
from lambdalite.errors import (
    InvalidRequestContentException,
    MethodNotAllowedException,
    UnknownOperationException,
    ValidationException,
)

TABLE = OperationTable()


def concrete(uri: str) -> tuple[str, dict[str, list[str]]]:
    path, _, query = uri.partition("?")
    path = re.sub(r"\{[A-Za-z]+\+?\}", "value-1", path)
    pairs = dict(pair.split("=") for pair in query.split("&") if pair)
    return path, {k: [v] for k, v in pairs.items()}


@pytest.mark.parametrize("operation", sorted(TABLE.model.operation_names))
def test_every_operation_routes_to_itself(operation: str) -> None:
    model = TABLE.operation(operation)
    path, query = concrete(model.http["requestUri"])
    assert TABLE.match(model.http["method"], path, query).operation.name == operation
    assert TABLE.match(model.http["method"], path + "/", query).operation.name == operation


def test_path_parameters_are_extracted() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST"
    match = TABLE.match("GET", f"/2015-03-31/functions/{arn}/configuration", {})
    assert match.path_params == {"FunctionName": arn}


def test_unknown_path_and_wrong_method() -> None:
    with pytest.raises(UnknownOperationException):
        TABLE.match("GET", "/2015-03-31/nothing", {})
    with pytest.raises(MethodNotAllowedException):
        TABLE.match("PATCH", "/2015-03-31/functions/f", {})


def test_inputs_come_from_path_query_and_body() -> None:
    op = TABLE.operation("UpdateFunctionCode")
    params = parse_input(
        op, {"FunctionName": "f"}, {}, {}, b'{"ZipFile": "UEsFBg==", "Publish": true}'
    )
    assert params == {"FunctionName": "f", "ZipFile": b"PK\x05\x06", "Publish": True}
    listing = TABLE.operation("ListFunctions")
    assert parse_input(listing, {}, {"MaxItems": ["5"], "Marker": ["m"]}, {}, b"") == {
        "MaxItems": 5,
        "Marker": "m",
    }


@pytest.mark.parametrize(
    "body",
    [b"{", b"[]", b'{"Publish": "yes"}', b'{"ZipFile": "%%%"}', b"\xff\xfe"],
    ids=["truncated", "not-object", "wrong-type", "bad-base64", "not-utf8"],
)
def test_bad_bodies_are_invalid_request_content(body: bytes) -> None:
    with pytest.raises(InvalidRequestContentException):
        parse_input(TABLE.operation("UpdateFunctionCode"), {"FunctionName": "f"}, {}, {}, body)


def test_validation_reports_every_problem_in_aws_wording() -> None:
    op = TABLE.operation("CreateFunction")
    with pytest.raises(ValidationException) as excinfo:
        validate(op.input_shape, {"FunctionName": "bad name", "Code": {}, "MemorySize": 1})
    message = excinfo.value.message
    assert message.startswith("3 validation errors detected: ")
    assert "Value null at 'role' failed to satisfy constraint: Member must not be null" in message
    assert "Value '1' at 'memorySize' failed to satisfy constraint" in message
