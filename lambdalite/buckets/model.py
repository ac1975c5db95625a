"""Bucket, its notification configurations, and the object changes that trigger them.

A configuration is S3's `LambdaFunctionConfiguration` ("PutBucketNotificationConfiguration"):
an Id, a function, the event types (`s3:ObjectCreated:*`, `s3:ObjectRemoved:Delete`...)
and prefix/suffix filter rules on the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class BucketKind(StrEnum):
    DIRECTORY = "directory"  # a directory of this server, watched
    EXTERNAL = "external"  # a bucket of an S3-compatible store, fed by the webhook


class ChangeKind(StrEnum):
    PUT = "ObjectCreated:Put"
    DELETE = "ObjectRemoved:Delete"


@dataclass(frozen=True)
class Notification:
    """One LambdaFunctionConfiguration; `function_name`/`qualifier` are of the bucket's
    own account (a bucket never notifies another account's function)."""

    id: str
    function_arn: str
    function_name: str
    qualifier: str | None
    events: tuple[str, ...]
    prefix: str = ""
    suffix: str = ""

    def wants(self, event_name: str, key: str) -> bool:
        """Whether an event (AWS's name without the "s3:" prefix) of this key is for it.
        `s3:ObjectCreated:*` covers every ObjectCreated:<kind>, as on S3."""
        return (
            self.matches_event(event_name)
            and key.startswith(self.prefix)
            and (key.endswith(self.suffix))
        )

    def matches_event(self, event_name: str) -> bool:
        family = event_name.split(":", 1)[0]
        return any(e in (f"s3:{event_name}", f"s3:{family}:*") for e in self.events)

    def to_json(self) -> dict[str, Any]:
        """The configuration as S3's JSON shows it (and as the store keeps it)."""
        rules = [{"Name": "Prefix", "Value": self.prefix}] if self.prefix else []
        if self.suffix:
            rules.append({"Name": "Suffix", "Value": self.suffix})
        found: dict[str, Any] = {
            "Id": self.id,
            "LambdaFunctionArn": self.function_arn,
            "Events": list(self.events),
        }
        if rules:
            found["Filter"] = {"Key": {"FilterRules": rules}}
        return found


@dataclass(frozen=True)
class Bucket:
    account_id: str
    name: str
    kind: BucketKind
    path: str | None  # a directory bucket's absolute path
    created_at: float
    notifications: tuple[Notification, ...] = field(default_factory=tuple)

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.name}"


@dataclass(frozen=True)
class ObjectState:
    """What the watcher knows of a file: enough to tell that it changed."""

    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ObjectChange:
    """A change to notify: a file written (with its content's identity) or removed."""

    kind: ChangeKind
    key: str
    state: ObjectState | None  # None for a removal
    etag: str | None = None  # MD5 hex of the content, for a PUT
    event_time: float = 0.0  # epoch seconds
    source_ip: str = "127.0.0.1"
    principal: str | None = None  # the account that wrote it, when known
