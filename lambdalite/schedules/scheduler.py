"""Scheduler: fires the rules that are due, through the durable async invocation path.

One pass (`run_once`) looks for due rules (a read), then in one transaction per batch:
advances each due rule's next due time and, in the same transaction, enqueues one async
event per target — the Scheduled Event, or the target's Input — as EventBridge invokes
Lambda asynchronously. The async delivery loop runs it from there (retries, destinations,
dead-letter queue) exactly as for an Event invoke.

A rule found due late (the server was down) fires once, with the time it fell due, and
its next due time is the first one after now: missed periods are not made up one by one
(docs/decisions/0502-schedules.md). Tests call `run_once(now=...)`, never sleeping.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Sequence

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from lambdalite.asyncinvoke.model import AsyncEvent
from lambdalite.schedules.event import payload, scheduled_event
from lambdalite.schedules.expression import Schedule, parse_schedule
from lambdalite.schedules.model import Rule, Target, function_target, rule_arn
from lambdalite.schedules.store import RuleStore

log = logging.getLogger(__name__)

# Store accepted async events on the caller's connection (EventStore.insert).
Enqueue = Callable[[Connection, Sequence[AsyncEvent]], None]
BATCH = 100


class Scheduler:
    def __init__(
        self,
        store: RuleStore,
        enqueue: Enqueue,
        region: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._enqueue = enqueue
        self._region = region
        self._clock = clock

    async def run_once(self, now: float | None = None) -> int:
        """One pass; returns how many rules fired. `now` replaces the clock."""
        moment = self._clock() if now is None else now
        return await run_in_threadpool(self.fire_due, moment)

    def fire_due(self, now: float) -> int:
        if not self._store.has_due(now):
            return 0
        total = 0
        while True:
            fired = self._store.fire_due(
                now,
                BATCH,
                lambda rule: _schedule(rule.schedule_expression).next_after(now, rule.created_at),
                functools.partial(self._fire, now=now),
            )
            total += fired
            if fired < BATCH:
                return total

    def _fire(self, conn: Connection, rule: Rule, targets: list[Target], now: float) -> None:
        assert rule.next_due_at is not None  # only due rules fire
        arn = rule_arn(self._region, rule.account_id, rule.name)
        event = scheduled_event(rule.account_id, self._region, arn, rule.next_due_at)
        events = []
        for target in targets:
            function = function_target(target.arn)
            if function is None:  # PutTargets accepts Lambda ARNs only
                continue
            events.append(
                AsyncEvent(
                    request_id=str(uuid.uuid4()),
                    account_id=rule.account_id,
                    function_name=function.name,
                    qualifier=function.qualifier,
                    payload=payload(event, target.input),
                    enqueued_at=now,
                    due_at=now,
                    trigger="schedule",
                )
            )
        if events:
            self._enqueue(conn, events)
        late = now - rule.next_due_at
        log.info(
            "schedule %s fired for %s (%d targets%s)",
            arn,
            event["time"],
            len(events),
            f", {late:.0f} s late" if late >= 60 else "",
        )


@functools.lru_cache(maxsize=1024)
def _schedule(expression: str) -> Schedule:
    return parse_schedule(expression)
