"""Paging tokens of the Logs API: where the next page starts, in the token itself.

GetLogEvents speaks AWS's visible form, `f/<digits>` forward and `b/<digits>` backward:
the digits are the (timestamp, event id) position of the event the page ended at, so a
token handed back when nothing is new is the very token that came in, and a follower
polls with it until new events appear. The other operations' tokens are opaque (AWS's
are too): base64 of the keyset position, never an offset, so paging is stable while
new events arrive.
"""

from __future__ import annotations

import base64
import binascii
import json
from enum import StrEnum

from lambdalite.logs.errors import invalid_token
from lambdalite.store.logs import Position

_DIGITS = 20


class Direction(StrEnum):
    FORWARD = "f"
    BACKWARD = "b"


def stream_token(direction: Direction, position: Position) -> str:
    return f"{direction}/{position.timestamp:0{_DIGITS}d}{position.event_id:0{_DIGITS}d}"


def read_stream_token(token: str) -> tuple[Direction, Position]:
    kind, _, digits = token.partition("/")
    if kind not in ("f", "b") or len(digits) != 2 * _DIGITS or not digits.isdigit():
        raise invalid_token()
    return Direction(kind), Position(int(digits[:_DIGITS]), int(digits[_DIGITS:]))


def page_token(*parts: str | int) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode()


def read_page_token(token: str, *kinds: type) -> list[str | int]:
    """The parts of a `page_token`, checked against the expected types in order."""
    try:
        parts = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_token() from None
    if (
        not isinstance(parts, list)
        or len(parts) != len(kinds)
        or not all(type(part) is kind for part, kind in zip(parts, kinds, strict=True))
    ):
        raise invalid_token()
    return parts
