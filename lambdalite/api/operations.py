"""The Lambda REST API as botocore's service model describes it: routes and inputs.

The model installed with boto3 (`botocore/data/lambda/2015-03-31/service-2.json`) is the
spec. Every one of its operations gets a route here, so a request for one lambdalite does
not implement is answered with a named error rather than a bare 404, and every input is
read from the path, query, headers and body exactly where the model says it travels.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

import botocore.session

from lambdalite.errors import (
    InvalidRequestContentException,
    MethodNotAllowedException,
    UnknownOperationException,
)

_LABEL = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")


@dataclass(frozen=True)
class Route:
    operation: str
    method: str
    pattern: re.Pattern[str]
    required_query: tuple[tuple[str, str], ...]  # e.g. (("find", "LayerVersion"),)
    literal_length: int  # longer literal prefixes win, as the most specific route


@dataclass(frozen=True)
class Match:
    operation: Any  # botocore OperationModel
    path_params: dict[str, str]


class OperationTable:
    """All operations of one REST service model, matchable by method and path."""

    def __init__(self, service: str = "lambda") -> None:
        self.model = botocore.session.get_session().get_service_model(service)
        routes = [_route(self.model.operation_model(n)) for n in self.model.operation_names]
        # Routes that require a query value first, then by specificity.
        self._routes = sorted(routes, key=lambda r: (-len(r.required_query), -r.literal_length))

    def operation(self, name: str) -> Any:
        return self.model.operation_model(name)

    def match(self, method: str, path: str, query: dict[str, list[str]]) -> Match:
        path = path.rstrip("/") or "/"
        allowed = False
        for route in self._routes:
            found = route.pattern.match(path)
            if not found:
                continue
            if any(value not in query.get(key, []) for key, value in route.required_query):
                continue
            if route.method != method:
                allowed = True
                continue
            return Match(self.model.operation_model(route.operation), found.groupdict())
        if allowed:
            raise MethodNotAllowedException(f"Method {method} is not allowed on {path}")
        raise UnknownOperationException(f"No Lambda operation matches {method} {path}")


def parse_input(
    operation: Any,
    path_params: dict[str, str],
    query: dict[str, list[str]],
    headers: dict[str, str],
    body: bytes,
) -> dict[str, Any]:
    """Collect an operation's input members from where the model says each one travels."""
    shape = operation.input_shape
    params: dict[str, Any] = {}
    if shape is None:
        return params
    payload_name = shape.serialization.get("payload")
    body_members: dict[str, Any] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            if wire in path_params:
                params[name] = path_params[wire]
        elif location == "querystring":
            values = query.get(wire)
            if values:
                params[name] = (
                    values if member.type_name == "list" else _scalar(member, values[-1], wire)
                )
        elif location == "header":
            value = headers.get(wire.lower())
            if value is not None:
                params[name] = _scalar(member, value, wire)
        elif name == payload_name:
            if member.type_name == "blob":
                params[name] = body
            else:
                params[name] = _from_json(member, _json_object(body), name)
        else:
            body_members[name] = member
    if body_members and body:
        document = _json_object(body)
        for name, member in body_members.items():
            if name in document and document[name] is not None:
                params[name] = _from_json(member, document[name], name)
    return params


def _route(operation: Any) -> Route:
    uri: str = operation.http["requestUri"]
    path, _, query = uri.partition("?")
    required = tuple(
        (k, v) for k, _, v in (pair.partition("=") for pair in query.split("&") if pair)
    )
    regex, position, literal = "", 0, 0
    for label in _LABEL.finditer(path):
        regex += re.escape(path[position : label.start()])
        literal += label.start() - position
        regex += f"(?P<{label[1]}>.+)" if label[2] else f"(?P<{label[1]}>[^/]+)"
        position = label.end()
    regex += re.escape(path[position:].rstrip("/"))
    literal += len(path[position:])
    return Route(
        operation.name, operation.http["method"], re.compile(f"^{regex}$"), required, literal
    )


def _json_object(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: {exc}"
        ) from None
    if not isinstance(document, dict):
        raise InvalidRequestContentException(
            "Could not parse request body into json: the body must be a JSON object"
        )
    return document


def _scalar(shape: Any, text: str, where: str) -> Any:
    kind = shape.type_name
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise _bad(where, kind, text) from None
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise _bad(where, kind, text)
        return text.lower() == "true"
    return text


def _from_json(shape: Any, value: Any, where: str) -> Any:
    """Check a JSON value against its shape's type; decode blobs from base64."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _bad(where, kind, value)
        return {
            name: _from_json(member, value[name], f"{where}.{name}")
            for name, member in shape.members.items()
            if value.get(name) is not None
        }
    if kind == "list":
        if not isinstance(value, list):
            raise _bad(where, kind, value)
        return [_from_json(shape.member, item, where) for item in value]
    if kind == "map":
        if not isinstance(value, dict):
            raise _bad(where, kind, value)
        return {str(k): _from_json(shape.value, v, f"{where}.{k}") for k, v in value.items()}
    if kind == "blob":
        if not isinstance(value, str):
            raise _bad(where, kind, value)
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _bad(where, "base64 blob", "<not base64>") from None
    expected: dict[str, tuple[type, ...]] = {
        "string": (str,),
        "integer": (int,),
        "long": (int,),
        "boolean": (bool,),
        "float": (int, float),
        "double": (int, float),
        "timestamp": (int, float, str),
    }
    types = expected.get(kind, (object,))
    is_bool_for_number = isinstance(value, bool) and kind != "boolean"
    if not isinstance(value, types) or is_bool_for_number:
        raise _bad(where, kind, value)
    return value


def _bad(where: str, kind: str, value: Any) -> InvalidRequestContentException:
    shown = value if isinstance(value, str | int | float) else type(value).__name__
    return InvalidRequestContentException(
        f"Could not parse request body into json: Could not parse payload into json: "
        f"Cannot deserialize value {shown!r} of {where} as {kind}"
    )
