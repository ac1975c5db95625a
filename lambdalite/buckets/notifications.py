"""Reading a PutBucketNotificationConfiguration request's LambdaFunctionConfigurations
into Notifications, with S3's rules and lambdalite's own: the function is the bucket's
account's (another account's is refused outright) and exists now.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Any

from lambdalite.buckets.model import Notification
from lambdalite.control.arns import function_arn, parse_function_name
from lambdalite.errors import (
    AccessDeniedException,
    ApiError,
    InvalidParameterValueException,
)

_EVENT = re.compile(r"s3:[A-Za-z]+:(\*|[A-Za-z]+)")
_ID = re.compile(r"[\w.+=@,:/-]{1,255}")
_ARN_ACCOUNT = re.compile(r"arn:[^:]+:lambda:[^:]*:(\d{12}):")
# (account, function name, qualifier) -> raises ApiError when there is no such function.
CheckFunction = Callable[[str, str, str | None], None]


def parse_configurations(
    document: Any, account_id: str, region: str, check_function: CheckFunction
) -> list[Notification]:
    if not isinstance(document, dict):
        raise InvalidParameterValueException("The notification configuration must be an object.")
    unknown = set(document) - {"LambdaFunctionConfigurations"}
    if unknown:
        raise InvalidParameterValueException(
            f"lambdalite buckets notify functions only; {sorted(unknown)[0]} is not supported."
        )
    items = document.get("LambdaFunctionConfigurations", [])
    if not isinstance(items, list):
        raise InvalidParameterValueException("LambdaFunctionConfigurations must be a list.")
    found = [_configuration(item, account_id, region, check_function) for item in items]
    ids = [n.id for n in found]
    if len(set(ids)) != len(ids):
        raise InvalidParameterValueException(
            "Configuration Ids must be unique within a bucket's notification configuration."
        )
    return found


def _configuration(
    item: Any, account_id: str, region: str, check_function: CheckFunction
) -> Notification:
    if not isinstance(item, dict):
        raise InvalidParameterValueException("Each LambdaFunctionConfiguration is an object.")
    target = item.get("LambdaFunctionArn")
    if not isinstance(target, str) or not target:
        raise InvalidParameterValueException("LambdaFunctionArn is required.")
    owner = _ARN_ACCOUNT.match(target)
    if owner is not None and owner[1] != account_id:
        raise AccessDeniedException(
            f"A bucket notifies functions of its own account only; {target} belongs to "
            "another account."
        )
    ref = parse_function_name(target, account_id=account_id, region=region)
    try:
        check_function(account_id, ref.name, ref.qualifier)
    except ApiError:
        raise InvalidParameterValueException(
            "Unable to validate the following destination configurations: function "
            f"{target} does not exist."
        ) from None
    events = item.get("Events")
    if not isinstance(events, list) or not events:
        raise InvalidParameterValueException("Events must list at least one event type.")
    for event in events:
        if not isinstance(event, str) or not _EVENT.fullmatch(event):
            raise InvalidParameterValueException(
                f"The event {event!r} is not valid: name one like s3:ObjectCreated:* or "
                "s3:ObjectRemoved:Delete."
            )
    prefix, suffix = _filter(item.get("Filter"))
    arn = function_arn(region, account_id, ref.name, ref.qualifier)
    identifier = item.get("Id") or _default_id(ref.name, events, prefix, suffix)
    if not isinstance(identifier, str) or not _ID.fullmatch(identifier):
        raise InvalidParameterValueException(f"Invalid configuration Id {identifier!r}.")
    return Notification(identifier, arn, ref.name, ref.qualifier, tuple(events), prefix, suffix)


def _filter(document: Any) -> tuple[str, str]:
    if document is None:
        return "", ""
    rules = document.get("Key", {}).get("FilterRules", []) if isinstance(document, dict) else None
    if not isinstance(rules, list):
        raise InvalidParameterValueException("Filter must be {Key: {FilterRules: [...]}}.")
    values: dict[str, str] = {}
    for rule in rules:
        name = rule.get("Name", "") if isinstance(rule, dict) else ""
        value = rule.get("Value") if isinstance(rule, dict) else None
        lowered = name.lower() if isinstance(name, str) else ""
        if lowered not in ("prefix", "suffix") or not isinstance(value, str):
            raise InvalidParameterValueException(
                "FilterRule names must be Prefix or Suffix, with a string Value."
            )
        if lowered in values:
            raise InvalidParameterValueException(
                f"Cannot specify more than one {lowered} rule in a filter."
            )
        values[lowered] = value
    return values.get("prefix", ""), values.get("suffix", "")


def _default_id(function: str, events: Sequence[str], prefix: str, suffix: str) -> str:
    """The same function, events and filter always get the same Id, so notifying twice
    replaces instead of doubling."""
    digest = hashlib.sha256("\0".join([function, *events, prefix, suffix]).encode()).hexdigest()
    return f"{function}-{digest[:8]}"
