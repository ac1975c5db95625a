"""Checks a response body against botocore's output shape: no unknown keys, valid enums,
right JSON types. Registered on every test client, so every call in the suite checks."""

from __future__ import annotations

import json
from typing import Any


class ShapeMismatch(AssertionError):
    pass


def check_shape(shape: Any, value: Any, path: str = "") -> None:
    kind = shape.type_name
    where = path or shape.name
    if kind == "structure":
        _expect(isinstance(value, dict), where, "an object", value)
        wire = {m.serialization.get("name", n): (n, m) for n, m in shape.members.items()}
        for key, item in value.items():
            if key not in wire:
                raise ShapeMismatch(f"{where}: unknown key {key!r} (shape {shape.name})")
            check_shape(wire[key][1], item, f"{where}.{key}")
    elif kind == "list":
        _expect(isinstance(value, list), where, "a list", value)
        for i, item in enumerate(value):
            check_shape(shape.member, item, f"{where}[{i}]")
    elif kind == "map":
        _expect(isinstance(value, dict), where, "an object", value)
        for key, item in value.items():
            check_shape(shape.value, item, f"{where}.{key}")
    elif kind == "string":
        _expect(isinstance(value, str), where, "a string", value)
        if shape.enum:
            _expect(value in shape.enum, where, f"one of {shape.enum}", value)
    elif kind in ("integer", "long"):
        _expect(isinstance(value, int) and not isinstance(value, bool), where, "an int", value)
    elif kind in ("float", "double"):
        _expect(isinstance(value, int | float), where, "a number", value)
    elif kind == "boolean":
        _expect(isinstance(value, bool), where, "a boolean", value)


def check_response(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
    """botocore 'before-parse' hook: check successful JSON bodies against the model."""
    status = response_dict["status_code"]
    body = response_dict["body"]
    shape = operation_model.output_shape
    if status >= 300 or shape is None or not body or shape.serialization.get("payload"):
        return
    body_members = {n: m for n, m in shape.members.items() if "location" not in m.serialization}
    document = json.loads(body)
    for key in document:
        if key not in body_members:
            raise ShapeMismatch(f"{operation_model.name}: unknown key {key!r} in response")
    for key, item in document.items():
        check_shape(body_members[key], item, f"{operation_model.name}.{key}")


def _expect(ok: bool, where: str, what: str, value: Any) -> None:
    if not ok:
        raise ShapeMismatch(f"{where}: expected {what}, got {value!r}")
