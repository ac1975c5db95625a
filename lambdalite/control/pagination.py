"""Marker/MaxItems pagination as the Lambda API does it: an opaque marker per page."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TypeVar

from lambdalite.errors import InvalidParameterValueException

T = TypeVar("T")
DEFAULT_MAX_ITEMS = 50


def encode_marker(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def decode_marker(marker: str | None) -> str | None:
    if not marker:
        return None
    try:
        return base64.urlsafe_b64decode(marker.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidParameterValueException(f"Invalid marker: {marker}") from exc


def page(
    items: Sequence[T], key: Callable[[T], str], marker: str | None, max_items: int | None
) -> tuple[list[T], str | None]:
    """One page of `items` (already in order) after the item whose key is the marker."""
    after = decode_marker(marker)
    start = 0
    if after is not None:
        keys = [key(item) for item in items]
        start = keys.index(after) + 1 if after in keys else len(items)
    limit = max_items or DEFAULT_MAX_ITEMS
    chunk = list(items[start : start + limit])
    more = start + limit < len(items)
    return chunk, encode_marker(key(chunk[-1])) if more and chunk else None
