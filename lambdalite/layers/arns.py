"""Layer ARNs: `arn:aws:lambda:<region>:<account>:layer:<name>` and, for one version,
`...:<name>:<version>`. A LayerName parameter may be a name or a layer ARN."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambdalite.errors import InvalidParameterValueException

_LAYER = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):layer:"
    r"(?P<name>[a-zA-Z0-9_-]{1,140})(?::(?P<version>[0-9]+))?$"
)
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,140}$")


@dataclass(frozen=True)
class LayerRefName:
    account_id: str
    name: str
    version: int | None = None


def layer_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{account_id}:layer:{name}"


def layer_version_arn(region: str, account_id: str, name: str, version: int) -> str:
    return f"{layer_arn(region, account_id, name)}:{version}"


def parse_layer_name(value: str, account_id: str) -> LayerRefName:
    """A LayerName parameter: a name (the caller's layer) or a layer ARN (any account's)."""
    if _NAME.match(value):
        return LayerRefName(account_id, value)
    match = _LAYER.match(value)
    if not match or match["version"] is not None:
        raise InvalidParameterValueException(f"Invalid layer name or ARN: {value}")
    return LayerRefName(match["account"], match["name"])


def parse_layer_version_arn(value: str) -> LayerRefName:
    match = _LAYER.match(value)
    if not match or match["version"] is None:
        raise InvalidParameterValueException(f"Invalid layer version ARN: {value}")
    return LayerRefName(match["account"], match["name"], int(match["version"]))
