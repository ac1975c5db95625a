"""Where a registered stream lives: a Redis URL and a stream key, checked and shown
without its password."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from lambdalite.errors import InvalidParameterValueException

DEFAULT_PORT = 6379
_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,128}")  # a Kinesis stream name ("StreamName")
_ARN = re.compile(r"arn:aws:kinesis:([a-z0-9-]+):(\d{12}):stream/([a-zA-Z0-9_.-]{1,128})")


@dataclass(frozen=True)
class StreamLocation:
    url: str  # redis://[user:password@]host[:port][/db] or rediss://...
    key: str  # the Redis stream's key

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or DEFAULT_PORT

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def shown(self) -> str:
        """The URL without its credentials, for listings and logs."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{self.address}{parts.path or '/0'}"


def check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidParameterValueException(f"Invalid Redis URL: {exc}") from None
    path = parts.path.strip("/")
    if (
        parts.scheme not in ("redis", "rediss")
        or not parts.hostname
        or (path and not path.isdigit())
        or parts.query
        or port == 0
    ):
        raise InvalidParameterValueException(
            "A Redis URL looks like redis://[user:password@]host[:port][/db] (or rediss:// "
            "for TLS)."
        )


def check_stream_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise InvalidParameterValueException(
            f"Invalid stream name {name!r}: 1-128 letters, digits, '_', '.' or '-'."
        )


def stream_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:kinesis:{region}:{account_id}:stream/{name}"


def parse_stream_arn(arn: str) -> tuple[str, str, str] | None:
    """(region, account, name) of a Kinesis stream ARN."""
    found = _ARN.fullmatch(arn)
    return (found[1], found[2], found[3]) if found else None
