"""Asynchronous invocation: Event invokes that are durable from their 202, retried as AWS
retries them, and whose outcome goes to destinations or a dead-letter queue.

`AsyncInvocations` is the entry point; the store, the delivery loop, the destinations
and the event invoke configurations live in the modules beside it. Design:
docs/decisions/0402-async-invocation.md.
"""

from lambdalite.asyncinvoke.service import AsyncInvocations

__all__ = ["AsyncInvocations"]
