"""Queue names, URLs and ARNs: checking them and reading a QueueRef back out of them.

A queue URL is `<endpoint>/<account_id>/<queue_name>` on the host the client used, as
AWS's `https://sqs.<region>.amazonaws.com/<account>/<name>`; only the path matters when
one comes back, so a URL handed out through one host name works through another.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from lambdalite.queues.errors import InvalidAddress, InvalidParameterValue, QueueDoesNotExist
from lambdalite.queues.model import FIFO_SUFFIX, QueueRef

_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
_ACCOUNT = re.compile(r"\d{12}")
_ARN = re.compile(r"arn:aws:sqs:([a-z0-9-]+):(\d{12}):(.+)")


def is_queue_name(name: str) -> bool:
    """ "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in
    length" (CreateQueue); a FIFO queue's name ends with .fifo within those 80."""
    stem = name[: -len(FIFO_SUFFIX)] if name.endswith(FIFO_SUFFIX) else name
    return bool(_NAME.fullmatch(stem)) and len(name) <= 80


def check_queue_name(name: str) -> None:
    if not is_queue_name(name):
        raise InvalidParameterValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        )


def parse_queue_url(url: str) -> QueueRef:
    """The queue a QueueUrl names. A URL that cannot name any queue is QueueDoesNotExist
    too: AWS answers an unknown queue the same whatever the reason."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise InvalidAddress(f"The address {url} is not valid for this endpoint.")
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) != 2 or not _ACCOUNT.fullmatch(segments[0]):
        raise QueueDoesNotExist()
    if not is_queue_name(segments[1]):
        raise QueueDoesNotExist()
    return QueueRef(segments[0], segments[1])


def parse_queue_arn(arn: str) -> QueueRef | None:
    found = _ARN.fullmatch(arn)
    return QueueRef(found[2], found[3]) if found else None
