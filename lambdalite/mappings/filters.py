"""FilterCriteria: which records a mapping hands to its function ("Lambda event filtering").

A filter pattern is a JSON object matched against one event record (for SQS, the record of
the event shape with its body parsed when the body is JSON). A mapping's patterns are
OR'ed; within a pattern every key must match; a key's list matches when any item does.
lambdalite applies exact values (strings, numbers, booleans, null) and the operators
below; a pattern using one of AWS's other operators is refused by name, never ignored.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence
from typing import Any

from lambdalite.errors import InvalidParameterValueException

OPERATORS = ("prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists")
# AWS's operators lambdalite does not apply yet ("Lambda event filtering", "Filter rule
# syntax"): refused with their name rather than matched wrongly.
_NOT_YET = ("wildcard", "cidr", "$or")
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
INVALID = "Invalid filter pattern definition."


class FilterCriteria:
    def __init__(self, patterns: Sequence[dict[str, Any]]) -> None:
        self._patterns = list(patterns)

    @classmethod
    def parse(cls, texts: Sequence[str]) -> FilterCriteria:
        """The patterns of a request's FilterCriteria, checked; InvalidParameterValue with
        AWS's wording for a malformed one."""
        patterns = []
        for text in texts:
            try:
                pattern = json.loads(text)
            except ValueError:
                raise InvalidParameterValueException(INVALID) from None
            if not isinstance(pattern, dict):
                raise InvalidParameterValueException(INVALID)
            _check_object(pattern)
            patterns.append(pattern)
        return cls(patterns)

    def matches(self, record: dict[str, Any]) -> bool:
        """Whether a record passes (always, with no patterns)."""
        return not self._patterns or any(_match_object(p, record) for p in self._patterns)


def sqs_view(record: dict[str, Any]) -> dict[str, Any]:
    """What SQS patterns see: the record, its body parsed when it is JSON ("Filtering
    Amazon SQS messages": a plain-text body is matched as one string)."""
    try:
        body = json.loads(record["body"])
    except ValueError:
        return record
    return {**record, "body": body}


# -- checking -----------------------------------------------------------------------------
def _check_object(pattern: dict[str, Any]) -> None:
    for value in pattern.values():
        if isinstance(value, dict):
            _check_object(value)
        elif isinstance(value, list) and value:
            for item in value:
                _check_matcher(item)
        else:
            raise InvalidParameterValueException(INVALID)


def _check_matcher(item: Any) -> None:
    if _is_scalar(item):
        return
    if not isinstance(item, dict) or len(item) != 1:
        raise InvalidParameterValueException(INVALID)
    ((name, argument),) = item.items()
    if name in _NOT_YET:
        raise InvalidParameterValueException(
            f"lambdalite does not support the {name!r} filter operator yet; it applies "
            f"exact values and {', '.join(OPERATORS)}."
        )
    valid = {
        "prefix": lambda a: isinstance(a, str),
        "suffix": lambda a: isinstance(a, str),
        "equals-ignore-case": lambda a: isinstance(a, str),
        "exists": lambda a: isinstance(a, bool),
        "anything-but": _valid_anything_but,
        "numeric": _valid_numeric,
    }.get(name)
    if valid is None or not valid(argument):
        raise InvalidParameterValueException(INVALID)


def _valid_anything_but(argument: Any) -> bool:
    if isinstance(argument, dict):
        return list(argument) == ["prefix"] and isinstance(argument["prefix"], str)
    if isinstance(argument, list):
        return bool(argument) and all(_is_scalar(a) for a in argument)
    return _is_scalar(argument)


def _valid_numeric(argument: Any) -> bool:
    if not isinstance(argument, list) or len(argument) not in (2, 4):
        return False
    pairs = zip(argument[::2], argument[1::2], strict=True)
    return all(op in _COMPARISONS and _is_number(n) for op, n in pairs)


# -- matching -----------------------------------------------------------------------------
def _match_object(pattern: dict[str, Any], data: Any) -> bool:
    for key, expected in pattern.items():
        present = isinstance(data, dict) and key in data
        value = data[key] if present else None
        if isinstance(expected, dict):
            if not present or not _match_object(expected, value):
                return False
        elif not _match_key(expected, present, value):
            return False
    return True


def _match_key(matchers: list[Any], present: bool, value: Any) -> bool:
    # An array in the data matches when any of its items does (EventBridge semantics).
    values = value if isinstance(value, list) else [value]
    for matcher in matchers:
        if isinstance(matcher, dict) and "exists" in matcher:
            if matcher["exists"] == present:
                return True
        elif present and any(_match_value(matcher, v) for v in values):
            return True
    return False


def _match_value(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, dict):
        return _same(matcher, value)
    ((name, argument),) = matcher.items()
    if name == "prefix":
        return isinstance(value, str) and value.startswith(argument)
    if name == "suffix":
        return isinstance(value, str) and value.endswith(argument)
    if name == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == argument.casefold()
    if name == "anything-but":
        if isinstance(argument, dict):
            return isinstance(value, str) and not value.startswith(argument["prefix"])
        excluded = argument if isinstance(argument, list) else [argument]
        return _is_scalar(value) and not any(_same(e, value) for e in excluded)
    if name == "numeric":
        if not _is_number(value):
            return False
        pairs = zip(argument[::2], argument[1::2], strict=True)
        return all(_COMPARISONS[op](value, bound) for op, bound in pairs)
    return False


def _same(expected: Any, value: Any) -> bool:
    """JSON equality: 1 equals 1.0, but true is not 1 and "1" is not 1."""
    if _is_number(expected) and _is_number(value):
        return bool(expected == value)
    return type(expected) is type(value) and bool(expected == value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)
