"""Receipt handles: which message of which queue, and which receive of it.

A handle names the queue, the message and the nonce of one receive. Each receive draws a
new nonce, so a handle from an earlier receive is recognisably stale ("Amazon SQS
visibility timeout": you must use the handle of the most recent receive).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass

from lambdalite.queues.errors import ReceiptHandleIsInvalid
from lambdalite.queues.model import QueueRef

_VERSION = "1"
_SEPARATOR = "\x1f"  # cannot occur in an account id, queue name, message id or nonce


@dataclass(frozen=True)
class Receipt:
    queue: QueueRef
    message_id: str
    nonce: str

    def handle(self) -> str:
        fields = (_VERSION, self.queue.account_id, self.queue.name, self.message_id, self.nonce)
        return base64.b64encode(_SEPARATOR.join(fields).encode()).decode()


def new_nonce() -> str:
    return secrets.token_hex(16)


def parse_receipt(handle: str, queue: QueueRef) -> Receipt:
    """The receipt a handle stands for, if it is one of this queue's; else the error."""
    try:
        fields = base64.b64decode(handle.encode(), validate=True).decode().split(_SEPARATOR)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        fields = []
    if len(fields) != 5 or fields[0] != _VERSION or QueueRef(fields[1], fields[2]) != queue:
        raise ReceiptHandleIsInvalid(
            f'The input receipt handle "{handle}" is not a valid receipt handle.'
        )
    return Receipt(queue, fields[3], fields[4])
