"""mappings/filters.py: FilterCriteria as "Lambda event filtering" describes it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdalite.errors import InvalidParameterValueException
from lambdalite.mappings.filters import FilterCriteria, sqs_view


def record(body: Any, **attributes: Any) -> dict[str, Any]:
    return sqs_view(
        {
            "messageId": "m-1",
            "body": body if isinstance(body, str) else json.dumps(body),
            "attributes": {"ApproximateReceiveCount": "1", **attributes},
            "messageAttributes": {},
        }
    )


def passes(pattern: Any, *records: dict[str, Any]) -> list[bool]:
    criteria = FilterCriteria.parse([json.dumps(pattern)])
    return [criteria.matches(r) for r in records]


def test_no_patterns_pass_everything() -> None:
    assert FilterCriteria.parse([]).matches(record("anything"))


def test_exact_values_of_a_json_body() -> None:
    pattern = {"body": {"kind": ["order", "refund"], "vip": [True]}}
    assert passes(
        pattern,
        record({"kind": "order", "vip": True}),
        record({"kind": "refund", "vip": True, "extra": 1}),
        record({"kind": "order", "vip": 1}),  # 1 is not true
        record({"kind": "order"}),  # a key the pattern names must be there
    ) == [True, True, False, False]


def test_numbers_compare_as_numbers_and_arrays_match_any_item() -> None:
    assert passes({"body": {"n": [5]}}, record({"n": 5.0}), record({"n": "5"})) == [True, False]
    assert passes({"body": {"tags": ["red"]}}, record({"tags": ["blue", "red"]})) == [True]


@pytest.mark.parametrize(
    ("matcher", "value", "expected"),
    [
        ({"prefix": "us-"}, "us-east-1", True),
        ({"prefix": "us-"}, "eu-west-1", False),
        ({"suffix": ".png"}, "a.png", True),
        ({"equals-ignore-case": "ALICE"}, "alice", True),
        ({"anything-but": ["a", "b"]}, "c", True),
        ({"anything-but": "a"}, "a", False),
        ({"anything-but": {"prefix": "tmp-"}}, "tmp-1", False),
        ({"numeric": [">", 100]}, 101, True),
        ({"numeric": [">=", 100, "<", 200]}, 200, False),
        ({"numeric": ["=", 3]}, 3, True),
        ({"numeric": [">", 1]}, "5", False),  # a string is not a number
    ],
)
def test_operators(matcher: dict[str, Any], value: Any, expected: bool) -> None:
    assert passes({"body": {"v": [matcher]}}, record({"v": value})) == [expected]


def test_exists() -> None:
    there, absent = record({"a": 1}), record({"b": 1})
    assert passes({"body": {"a": [{"exists": True}]}}, there, absent) == [True, False]
    assert passes({"body": {"a": [{"exists": False}]}}, there, absent) == [False, True]


def test_a_plain_text_body_is_one_string() -> None:
    assert passes({"body": ["hello"]}, record("hello"), record("hello world")) == [True, False]
    assert passes({"body": [{"prefix": "hel"}]}, record("hello")) == [True]
    assert passes({"body": {"a": ["x"]}}, record("not json")) == [False]


def test_patterns_are_ored_and_keys_anded() -> None:
    criteria = FilterCriteria.parse(
        [
            json.dumps({"body": {"a": [1]}}),
            json.dumps({"attributes": {"ApproximateReceiveCount": ["1"]}}),
        ]
    )
    assert criteria.matches(record({"a": 2}))  # the second pattern matches
    both = FilterCriteria.parse([json.dumps({"body": {"a": [1]}, "messageId": ["other"]})])
    assert not both.matches(record({"a": 1}))


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '"a string"',
        '{"body": "x"}',  # a value must be a list or an object
        '{"body": {"a": []}}',
        '{"body": {"a": [{"prefix": 1}]}}',
        '{"body": {"a": [{"numeric": [">", "1"]}]}}',
        '{"body": {"a": [{"numeric": ["!", 1]}]}}',
        '{"body": {"a": [{"prefix": "x", "suffix": "y"}]}}',
        '{"body": {"a": [{"nonsense": 1}]}}',
    ],
)
def test_malformed_patterns_are_refused_in_awss_words(text: str) -> None:
    with pytest.raises(InvalidParameterValueException) as excinfo:
        FilterCriteria.parse([text])
    assert excinfo.value.message == "Invalid filter pattern definition."


@pytest.mark.parametrize("operator", ["wildcard", "cidr", "$or"])
def test_operators_lambdalite_lacks_are_refused_by_name(operator: str) -> None:
    with pytest.raises(InvalidParameterValueException) as excinfo:
        FilterCriteria.parse([json.dumps({"body": {"a": [{operator: "x"}]}})])
    assert f"'{operator}'" in excinfo.value.message
