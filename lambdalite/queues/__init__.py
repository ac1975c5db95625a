"""The built-in queue service: SQS's semantics, durable in the store.

`QueueService` is the one entry point (the SQS API in `api/sqs.py` and, later, event
source mappings and async-invoke destinations use it); stores, records and checks live
in the modules beside it.
"""

from lambdalite.queues.model import QueueRef
from lambdalite.queues.service import QueueService

__all__ = ["QueueRef", "QueueService"]
