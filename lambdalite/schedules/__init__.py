"""Schedules: EventBridge scheduled rules (rate and cron expressions) whose firings reach
Lambda functions through the durable async invocation path.

`Schedules` is the entry point. Design: docs/decisions/0502-schedules.md.
"""

from lambdalite.schedules.schedules import Schedules

__all__ = ["Schedules"]
