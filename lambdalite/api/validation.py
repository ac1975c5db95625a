"""The model's constraints on input, checked as AWS's front end checks them.

AWS answers a constraint violation with ValidationException and a message such as
"1 validation error detected: Value '64' at 'memorySize' failed to satisfy constraint:
Member must have value greater than or equal to 128" (member paths in lower camel case).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from lambdalite.errors import ValidationException


def validate(shape: Any, params: dict[str, Any]) -> None:
    if shape is None:
        return
    problems: list[str] = []
    _check(shape, params, "", problems)
    if problems:
        raise ValidationException.of(problems)


def _check(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        for name in shape.required_members:
            if value.get(name) is None:
                problems.append(
                    f"Value null at '{_join(path, name)}' failed to satisfy constraint: "
                    "Member must not be null"
                )
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _check(member, value[name], _join(path, name), problems)
        return
    meta = shape.metadata
    shown = _shown(value)
    if kind in ("list", "map", "string", "blob"):
        size = len(value)
        if "min" in meta and size < meta["min"]:
            problems.append(
                f"Value {shown} at '{path}' failed to satisfy constraint: "
                f"Member must have length greater than or equal to {meta['min']}"
            )
        if "max" in meta and size > meta["max"]:
            problems.append(
                f"Value {shown} at '{path}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {meta['max']}"
            )
    if kind in ("integer", "long", "float", "double"):
        if "min" in meta and value < meta["min"]:
            problems.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {meta['min']}"
            )
        if "max" in meta and value > meta["max"]:
            problems.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value less than or equal to {meta['max']}"
            )
    if kind == "string":
        enum = shape.enum
        if enum and value not in enum:
            problems.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(enum)}]"
            )
        pattern = meta.get("pattern")
        if pattern and not _regex(pattern).fullmatch(value):
            problems.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {pattern}"
            )
    if kind == "list":
        for item in value:
            _check(shape.member, item, f"{path}.member", problems)
    if kind == "map":
        for key, item in value.items():
            _check(shape.key, key, f"{path}.key", problems)
            _check(shape.value, item, f"{path}.{key}", problems)


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    # Java's Unicode classes (TagKey, TagValue) have no `re` spelling: \w and \s cover them.
    translated = pattern.replace(r"\p{L}", r"\w").replace(r"\p{N}", r"\d")
    translated = translated.replace(r"\p{Z}", r"\s")
    try:
        return re.compile(translated, re.DOTALL)
    except re.error:
        return re.compile(".*", re.DOTALL)


def _join(path: str, name: str) -> str:
    camel = name[:1].lower() + name[1:]
    return f"{path}.{camel}" if path else camel


def _shown(value: Any) -> str:
    if isinstance(value, bytes):
        return "'<binary>'"
    if isinstance(value, dict | list):
        return "'" + str(value) + "'"
    return f"'{value}'"
