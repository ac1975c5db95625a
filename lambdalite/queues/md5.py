"""The MD5 digests SQS returns, which SDKs check against what they sent or received.

MD5OfMessageAttributes follows "Calculating the MD5 message digest for message
attributes" (SQS Developer Guide): attributes sorted by name; for each, the 4-byte
big-endian length and UTF-8 bytes of the name, then of the data type, then a transport
byte (1 = string, 2 = binary) and the length-prefixed value. MD5OfMessageSystemAttributes
is the same over the system attributes (AWSTraceHeader).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping

from lambdalite.queues.model import AttributeValue

_STRING = b"\x01"
_BINARY = b"\x02"


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest()


def md5_of_attributes(attributes: Mapping[str, AttributeValue]) -> str | None:
    """None for no attributes: SQS then leaves MD5OfMessageAttributes out."""
    if not attributes:
        return None
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        value = attributes[name]
        digest.update(_prefixed(name.encode()))
        digest.update(_prefixed(value.data_type.encode()))
        if value.binary_value is not None:
            digest.update(_BINARY + _prefixed(value.binary_value))
        else:
            digest.update(_STRING + _prefixed((value.string_value or "").encode()))
    return digest.hexdigest()


def _prefixed(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data
