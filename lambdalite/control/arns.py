"""Function names and ARNs in every form AWS accepts.

A FunctionName parameter may be a name (`my-function`), a partial ARN
(`123456789012:function:my-function`) or a full ARN
(`arn:aws:lambda:us-east-1:123456789012:function:my-function`), each optionally ending in
`:qualifier` (a version number or an alias name) where the operation allows one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambdalite.errors import InvalidParameterValueException, ResourceNotFoundException

_FORMS = re.compile(
    r"^(?:arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z0-9-]+):)?"
    r"(?:(?P<account>\d{12}):)?(?:function:)?(?P<name>[a-zA-Z0-9_-]{1,64})"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]{1,128}))?$"
)
_VERSION = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class FunctionRef:
    """A parsed FunctionName: which function, and the qualifier written into it."""

    name: str
    qualifier: str | None


def function_arn(region: str, account_id: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def is_version_number(qualifier: str) -> bool:
    return bool(_VERSION.match(qualifier))


def parse_function_name(
    value: str, *, account_id: str, region: str, allow_qualifier: bool = True
) -> FunctionRef:
    """Parse a FunctionName parameter for the calling account.

    An ARN naming another account is reported as "not found", never as forbidden: a
    caller must not learn whether another account's function exists.
    """
    match = _FORMS.match(value)
    if not match:
        raise InvalidParameterValueException(f"Invalid function name or ARN: {value}")
    name, qualifier = match["name"], match["qualifier"]
    if match["region"] and match["region"] != region:
        raise InvalidParameterValueException(
            f"Functions from '{match['region']}' are not reachable in this region ('{region}')"
        )
    if match["account"] and match["account"] != account_id:
        raise ResourceNotFoundException(f"Function not found: {_as_arn(value, region)}")
    if qualifier and not allow_qualifier:
        raise InvalidParameterValueException(
            "Unsupported function name format. A qualifier is not allowed here."
        )
    if value.startswith("function:") or (match["account"] and "function:" not in value):
        raise InvalidParameterValueException(f"Invalid function name or ARN: {value}")
    return FunctionRef(name=name, qualifier=qualifier)


def resolve_qualifier(ref: FunctionRef, qualifier_param: str | None) -> str | None:
    """Merge a qualifier in the name with the Qualifier parameter; they must agree."""
    if ref.qualifier and qualifier_param and ref.qualifier != qualifier_param:
        raise InvalidParameterValueException(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    return ref.qualifier or qualifier_param


def _as_arn(value: str, region: str) -> str:
    if value.startswith("arn:"):
        return value
    return f"arn:aws:lambda:{region}:{value}"
